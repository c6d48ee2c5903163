package api

import (
	"encoding/json"
	"fmt"

	"go.yaml.in/yaml/v4"
)

// JSON converts a description from its YAML source to the JSON a node
// serves at /openapi.json (tools and browsers' viewers read JSON; the
// repository keeps YAML, which people edit). Nodes convert once, at start.
func JSON(doc []byte) ([]byte, error) {
	var v any
	if err := yaml.Unmarshal(doc, &v); err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	v, err := jsonable(v)
	if err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	return json.Marshal(v)
}

// jsonable turns YAML's maps with keys of any type (a status code written
// 200: is an integer key) into JSON objects, keyed by the key's text.
func jsonable(v any) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			c, err := jsonable(e)
			if err != nil {
				return nil, err
			}
			t[k] = c
		}
		return t, nil
	case map[any]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			switch k.(type) {
			case string, int, int64, uint64, bool, float64:
			default:
				return nil, fmt.Errorf("a map key of type %T has no JSON form", k)
			}
			c, err := jsonable(e)
			if err != nil {
				return nil, err
			}
			out[fmt.Sprint(k)] = c
		}
		return out, nil
	case []any:
		for i, e := range t {
			c, err := jsonable(e)
			if err != nil {
				return nil, err
			}
			t[i] = c
		}
		return t, nil
	}
	return v, nil
}
