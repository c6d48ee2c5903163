package raft

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

type stringer struct{}

func (stringer) String() string { return "node at 127.0.0.1:7000" }

// TestRaftLogsInTheNodesSchema: raft's lines come out of the node's slog
// handler, with its keys, raft's name and arguments as attributes, and
// raft's normal work not as warnings.
func TestRaftLogsInTheNodesSchema(t *testing.T) {
	var buf bytes.Buffer
	l := newSlogAdapter(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", "n1"), "raft")
	l.Warn("heartbeat timeout reached, starting election", "last-leader-addr", "", "last-leader-id", "")
	l.Info("entering candidate state", "node", stringer{}, "term", 2)
	l.Named("fsm").With("index", 7).Warn("failed to contact", "server-id", "n2", "time", 1500*time.Millisecond, "error", errors.New("boom"))
	l.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}).Print("[ERR] raft-net: failed to accept")

	var lines []map[string]any
	for _, s := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		lines = append(lines, m)
	}
	want := []map[string]any{
		{"level": "INFO", "msg": "heartbeat timeout reached, starting election", "logger": "raft", "node": "n1"},
		{"level": "INFO", "msg": "entering candidate state", "logger": "raft", "term": 2.0, "node": "n1", "raft_node": "node at 127.0.0.1:7000"},
		{"level": "WARN", "msg": "failed to contact", "logger": "raft.fsm", "index": 7.0, "server-id": "n2", "error": "boom"},
		{"level": "ERROR", "msg": "raft-net: failed to accept", "logger": "raft"},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), buf.String())
	}
	for i, w := range want {
		if _, ok := lines[i]["time"]; !ok {
			t.Errorf("line %d has no time: %v", i, lines[i])
		}
		for k, v := range w {
			if lines[i][k] != v {
				t.Errorf("line %d: %s = %v, want %v (%v)", i, k, lines[i][k], v, lines[i])
			}
		}
	}
}
