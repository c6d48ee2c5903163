package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// printTable prints an admin answer for people: a listing ({"items": [...]}
// or an array) as a table of columns (every member of the items, when
// columns is empty), an object as one "key value" line per member, nested
// objects' members under dotted keys.
func printTable(w io.Writer, answer any, columns []string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	items, isList := answer.([]any)
	obj, isObj := answer.(map[string]any)
	if isObj {
		if it, ok := obj["items"].([]any); ok || obj["items"] == nil && len(obj) <= 2 && hasKey(obj, "items") {
			items, isList = it, true
		}
	}
	if !isList {
		if !isObj {
			fmt.Fprintln(tw, cell(answer))
			return
		}
		lines := map[string]string{}
		flatten("", obj, lines)
		keys := make([]string, 0, len(lines))
		for k := range lines {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(tw, "%s\t%s\n", k, lines[k])
		}
		return
	}
	if len(columns) == 0 {
		seen := map[string]bool{}
		for _, it := range items {
			if m, ok := it.(map[string]any); ok {
				for k := range m {
					if !seen[k] {
						seen[k] = true
						columns = append(columns, k)
					}
				}
			}
		}
		slices.Sort(columns)
	}
	head := make([]string, len(columns))
	for i, c := range columns {
		head[i] = strings.ToUpper(c)
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, it := range items {
		m, _ := it.(map[string]any)
		row := make([]string, len(columns))
		for i, c := range columns {
			row[i] = cell(m[c])
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	if next, ok := obj["next"].(string); ok && next != "" {
		fmt.Fprintf(tw, "(more after %s)\n", next)
	}
}

func hasKey(m map[string]any, k string) bool { _, ok := m[k]; return ok }

// flatten writes v's members into lines, nested objects' under dotted keys.
func flatten(prefix string, v map[string]any, lines map[string]string) {
	for k, e := range v {
		if prefix != "" {
			k = prefix + "." + k
		}
		if m, ok := e.(map[string]any); ok && len(m) > 0 {
			flatten(k, m, lines)
			continue
		}
		lines[k] = cell(e)
	}
}

// cell is a value as a table shows it: a list of strings or numbers
// comma-separated, an object as compact JSON, null as "-".
func cell(v any) string {
	switch t := v.(type) {
	case nil:
		return "-"
	case string:
		if t == "" {
			return "-"
		}
		return t
	case []any:
		parts := make([]string, 0, len(t))
		for _, e := range t {
			switch e.(type) {
			case map[string]any, []any:
				b, _ := json.Marshal(t)
				return string(b)
			}
			parts = append(parts, cell(e))
		}
		if len(parts) == 0 {
			return "-"
		}
		return strings.Join(parts, ",")
	case map[string]any:
		b, _ := json.Marshal(t)
		return string(b)
	}
	return fmt.Sprint(v)
}
