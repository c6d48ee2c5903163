package dev

import (
	"testing"

	"github.com/mcfed/mcfed/internal/pgtest"
)

// TestMain stops the PostgreSQL cluster the benchmarks start, if any.
func TestMain(m *testing.M) { pgtest.Main(m) }
