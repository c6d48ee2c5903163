// Package version says which build of mcfed is running, from what the Go
// toolchain records in the binary: the main module's version (a tag, or a
// pseudo-version of the commit) and the VCS revision and time when the
// binary was built in a checkout. `mcfed version` prints it, and a node's
// start line logs it, so a log tells which code wrote it.
package version

import (
	"runtime/debug"
	"strings"
)

// Info is the build's identity.
type Info struct {
	// Version is the main module's version, "devel" when the toolchain
	// recorded none (a build outside version control, go run).
	Version string
	// Revision and Time are the commit built and its time, "" when
	// unknown; Modified says the checkout had uncommitted changes.
	Revision, Time string
	Modified       bool
	GoVersion      string
}

// Get reads the build information of the running binary.
func Get() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Version: "devel"}
	}
	return fromBuildInfo(bi)
}

func fromBuildInfo(bi *debug.BuildInfo) Info {
	i := Info{Version: bi.Main.Version, GoVersion: bi.GoVersion}
	if i.Version == "" || i.Version == "(devel)" {
		i.Version = "devel"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			i.Revision = s.Value
		case "vcs.time":
			i.Time = s.Value
		case "vcs.modified":
			i.Modified = s.Value == "true"
		}
	}
	return i
}

// String is one line: the version, then the commit, its time and whether
// the checkout was modified, when known.
func (i Info) String() string {
	var extra []string
	if i.Revision != "" {
		extra = append(extra, "commit "+short(i.Revision))
	}
	if i.Time != "" {
		extra = append(extra, i.Time)
	}
	if i.Modified {
		extra = append(extra, "modified")
	}
	if len(extra) == 0 {
		return i.Version
	}
	return i.Version + " (" + strings.Join(extra, ", ") + ")"
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}
