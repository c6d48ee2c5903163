package admin

import (
	"bufio"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/registry"
)

// ndjson is the media type of the audit log's export, one entry a line.
const ndjson = "application/x-ndjson"

// getAudit lists the registry's audit log (every write, applied or
// refused, with its author), filtered by operator, key and time, a page at
// a time; or, asked for JSON lines (Accept: application/x-ndjson or
// ?format=jsonl), exports every entry that matches. A federation admin
// reads it all; an operator admin the entries that concern its operator.
func (a *api) getAudit(c *fiber.Ctx) error {
	q, err := auditQuery(c)
	if err != nil {
		return err
	}
	cred := a.credential(c)
	switch {
	case cred == nil || cred.Revoked:
		return newProblem(403, "forbidden", "this credential holds no role: the audit log is the federation admin's and the operators' admins'")
	case cred.Role == registry.RoleFederationAdmin:
	case cred.Role == registry.RoleOperatorAdmin && (q.Operator == "" || q.Operator == cred.Operator):
		q.Operator = cred.Operator
	default:
		return newProblem(403, "forbidden", "an operator admin reads the audit entries that concern its own operator")
	}
	if err := a.consistent(c); err != nil {
		return err
	}
	reg := a.c.Registry()
	if c.Query("format") != "jsonl" && !strings.Contains(c.Get(fiber.HeaderAccept), ndjson) {
		return c.JSON(reg.Audit(q))
	}
	c.Set(fiber.HeaderContentType, ndjson)
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		enc := json.NewEncoder(w)
		q.Limit = 1000
		for {
			page := reg.Audit(q)
			for _, e := range page.Items {
				if enc.Encode(e) != nil {
					return
				}
			}
			if page.Next == "" || w.Flush() != nil {
				return
			}
			q.After = page.Items[len(page.Items)-1].Index
		}
	})
	return nil
}

// auditQuery reads the filters: operator, key, since and until (RFC 3339,
// or Unix milliseconds), after (the log index a page ends with), limit.
func auditQuery(c *fiber.Ctx) (registry.AuditQuery, error) {
	q := registry.AuditQuery{Operator: c.Query("operator"), Key: c.Query("key"), Limit: c.QueryInt("limit")}
	for name, dst := range map[string]*int64{"since": &q.Since, "until": &q.Until} {
		v := c.Query(name)
		if v == "" {
			continue
		}
		if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
			*dst = ms
			continue
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return q, badRequest(name + " must be an RFC 3339 time or Unix milliseconds")
		}
		*dst = t.UnixMilli()
	}
	if v := c.Query("after"); v != "" {
		after, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return q, badRequest("after must be a log index (the next of the previous page)")
		}
		q.After = after
	}
	return q, nil
}

// AuditRetentionBody is the body of PUT /v1/audit/retention.
type AuditRetentionBody struct {
	RetentionDays int `json:"retention_days"`
}

// getAuditRetention answers how long the audit log keeps an entry, and
// the bounds a federation admin may set it within.
func (a *api) getAuditRetention(c *fiber.Ctx) error {
	if err := a.consistent(c); err != nil {
		return err
	}
	return c.JSON(fiber.Map{"retention_days": a.c.Registry().AuditRules().RetentionDays,
		"min_days": registry.MinAuditRetentionDays, "max_days": registry.MaxAuditRetentionDays})
}

// putAuditRetention sets the retention: a federation admin's act (with k
// of n approvals on, a proposal), judged in the registry.
func (a *api) putAuditRetention(c *fiber.Ctx) error {
	var body AuditRetentionBody
	if err := a.readJSON(c, &body); err != nil {
		return err
	}
	cmd := registry.MustEncode(registry.CmdPutAuditRules, registry.AuditRules{RetentionDays: body.RetentionDays})
	if _, err := a.c.Apply(c.UserContext(), presented(c), cmd); err != nil {
		return err
	}
	return c.JSON(fiber.Map{"retention_days": a.c.Registry().AuditRules().RetentionDays})
}
