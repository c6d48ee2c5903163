package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// A command's settings come from four places; the first that sets a flag
// wins, and the others are not read for it: the command line, then the
// MCFED_* environment, then the TOML file of --config (MCFED_CONFIG), then
// the flag's default. Each flag's Value is set from one place only, so a
// flag that accumulates (--trusted-proxies) never mixes two sources.
type source int

const (
	unset source = iota
	fromFlag
	fromEnv
	fromFile
)

// configFlag names the flag whose value is a settings file; a command
// without it reads none.
const configFlag = "config"

// secretFlags are serve's flags whose values are secrets. Each has a
// "-file" form naming a file that holds the value, so that no secret need
// be on a command line (which any user sees in ps) or in the environment;
// the config file takes only that form. A new secret flag goes here.
var secretFlags = []string{"admin-token", "join-token", "smsc-password", "store"}

// secretPathFlags name files that are themselves secrets (a private key,
// the key-encryption key, the authenticators' settings with an MSSP's
// password, the network lookup's with its bearer token): read by the node, not here, but warned of, as a
// secret flag's file is, when others than their owner may read them.
var secretPathFlags = []string{"tls-key", "kek-file", "authenticators-file", "network-lookup-file"}

// listFlags take a list: in the config file, an array of strings as well
// as the comma-separated string of the command line.
var listFlags = map[string]bool{"trusted-proxies": true}

// settings says where each flag set was set from.
type settings map[string]source

// parse sets fs from args, then, when env is set, from the MCFED_*
// variables of the flags args left unset, then from the --config file for
// those still unset, and reports every bad value at once.
func parse(fs *flag.FlagSet, args []string, env bool) (settings, error) {
	fs.SetOutput(io.Discard) // run prints the errors, once
	fs.Usage = func() {}
	var errs []error
	from := settings{}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		errs = append(errs, err)
	} else if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected argument %q: every setting is a flag", fs.Arg(0)))
	}
	fs.Visit(func(f *flag.Flag) { from[f.Name] = fromFlag })
	if env {
		fs.VisitAll(func(f *flag.Flag) {
			name := envName(f.Name)
			v, ok := os.LookupEnv(name)
			if !ok || from[f.Name] != unset {
				return
			}
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", name, v, err))
			}
			from[f.Name] = fromEnv
		})
	}
	if f := fs.Lookup(configFlag); f != nil && f.Value.String() != "" {
		errs = append(errs, loadConfigFile(fs, f.Value.String(), from)...)
	}
	if len(errs) > 0 {
		return nil, &usageError{errs}
	}
	return from, nil
}

// configKeys are the keys a config file for fs may hold: every flag's
// name, but a secret's (its -file form is the key) and --config's own.
func configKeys(fs *flag.FlagSet) map[string]bool {
	keys := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { keys[f.Name] = true })
	delete(keys, configFlag)
	for _, s := range secretFlags {
		delete(keys, s)
	}
	return keys
}

// loadConfigFile sets, from the TOML file at path, the flags of fs that
// from says are still unset. The file is flat: each key is a flag's name,
// its value what the flag takes (a string, true or false, or for a list an
// array of strings). Every problem is reported with the line it is on.
func loadConfigFile(fs *flag.FlagSet, path string, from settings) []error {
	b, err := os.ReadFile(path)
	if err != nil {
		return []error{fmt.Errorf("--%s: %w", configFlag, err)}
	}
	var doc map[string]toml.Primitive
	md, err := toml.Decode(string(b), &doc)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return []error{fmt.Errorf("%s:%d: not TOML: %s", path, pe.Position.Line, pe.Message)}
		}
		return []error{fmt.Errorf("%s: not TOML: %w", path, err)}
	}
	keys := configKeys(fs)
	var errs []error
	for _, k := range md.Keys() {
		if len(k) != 1 {
			continue // inside a table, reported with the table
		}
		name := k[0]
		at := fmt.Sprintf("%s:%d: ", path, keyLine(&md, doc[name]))
		var v any
		if err := md.PrimitiveDecode(doc[name], &v); err != nil {
			errs = append(errs, fmt.Errorf("%s%s: %w", at, name, err))
			continue
		}
		if !keys[name] {
			errs = append(errs, errors.New(at+unknownKey(name, v, keys)))
			continue
		}
		if from[name] != unset {
			continue // the command line or the environment set it
		}
		f := fs.Lookup(name)
		s, err := configValue(f, v)
		if err == nil {
			err = f.Value.Set(s)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s%s = %s: %w", at, name, tomlValue(v), err))
			continue
		}
		from[name] = fromFile
	}
	return errs
}

// unknownKey says why name is not a key of the file, and what the person
// may have meant.
func unknownKey(name string, v any, keys map[string]bool) string {
	if _, table := v.(map[string]any); table {
		return fmt.Sprintf("[%s] is a table: the file is flat, one key per flag (mcfed help serve lists them)", name)
	}
	for _, s := range secretFlags {
		if name == s {
			return fmt.Sprintf("%s: a secret is not written in the config file: set %s-file to the path of a file holding it", name, name)
		}
	}
	if name == configFlag {
		return "config: a config file does not name another"
	}
	msg := fmt.Sprintf("unknown key %q: the keys are the flags' names (mcfed help serve lists them)", name)
	if alt := strings.ReplaceAll(strings.ToLower(name), "_", "-"); keys[alt] {
		msg = fmt.Sprintf("unknown key %q: did you mean %q?", name, alt)
	}
	return msg
}

// configValue is v, a TOML value, as the string f's Set takes, or an error
// saying what the key takes.
func configValue(f *flag.Flag, v any) (string, error) {
	switch v := v.(type) {
	case bool:
		if isBool(f) {
			return strconv.FormatBool(v), nil
		}
	case string:
		if !isBool(f) {
			return v, nil
		}
	case []any:
		if !listFlags[f.Name] {
			break
		}
		items := make([]string, len(v))
		for i, item := range v {
			s, ok := item.(string)
			if !ok {
				return "", errors.New(`want an array of strings, e.g. ["10.0.0.0/24", "10.0.1.5"]`)
			}
			items[i] = s
		}
		return strings.Join(items, ","), nil
	}
	switch {
	case isBool(f):
		return "", errors.New("want true or false, unquoted")
	case listFlags[f.Name]:
		return "", errors.New(`want an array of strings, e.g. ["10.0.0.0/24", "10.0.1.5"]`)
	}
	return "", errors.New(`want a quoted string, e.g. "30d" or "127.0.0.1:7000"`)
}

// tomlValue writes v back as it might have been written in the file.
func tomlValue(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(v)
}

// lineProbe fails to decode anything, so that the decoder's error says on
// which line the value it was given starts: the toml package tells the
// position of a key in no other way.
type lineProbe struct{}

func (lineProbe) UnmarshalTOML(any) error { return errors.New("line probe") }

func keyLine(md *toml.MetaData, p toml.Primitive) int {
	var pe toml.ParseError
	if err := md.PrimitiveDecode(p, &lineProbe{}); errors.As(err, &pe) {
		return pe.Position.Line
	}
	return 0
}

// readSecretFiles sets each secret flag from the file its -file form
// names, when that form was set from a place that wins over the value's
// own (a flag's value and its file are one setting). It returns a warning
// for each such file, and each file of secretPathFlags, that others than
// its owner may read.
func readSecretFiles(fs *flag.FlagSet, from settings) (warnings []string, err error) {
	var errs []error
	for _, name := range secretFlags {
		fileName := name + "-file"
		byValue, byFile := from[name], from[fileName]
		switch {
		case byFile == unset, byValue != unset && byValue < byFile:
			continue
		case byValue == byFile:
			what := "--" + name + " and --" + fileName
			if byValue == fromEnv {
				what = envName(name) + " and " + envName(fileName)
			}
			errs = append(errs, fmt.Errorf("%s exclude each other: give the secret one way", what))
			continue
		}
		path := fs.Lookup(fileName).Value.String()
		secret, warning, err := readSecret(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("--%s %s: %w", fileName, path, err))
			continue
		}
		if warning != "" {
			warnings = append(warnings, fmt.Sprintf("--%s %s: %s", fileName, path, warning))
		}
		if err := fs.Lookup(name).Value.Set(secret); err != nil {
			errs = append(errs, fmt.Errorf("--%s %s: %w", fileName, path, err))
		}
	}
	for _, name := range secretPathFlags {
		f := fs.Lookup(name)
		if f == nil || f.Value.String() == "" {
			continue
		}
		if st, err := os.Stat(f.Value.String()); err == nil && st.Mode().Perm()&^0o600 != 0 {
			warnings = append(warnings, fmt.Sprintf("--%s %s: %s", name, f.Value.String(), looseMode(st.Mode().Perm(), f.Value.String())))
		} // a file that cannot be read is the node's to report
	}
	if len(errs) > 0 {
		return warnings, &usageError{errs}
	}
	return warnings, nil
}

// looseMode says what is wrong with a secret file of mode perm.
func looseMode(perm os.FileMode, path string) string {
	return fmt.Sprintf("mode %04o is looser than 0600: others than its owner may read the secret (chmod 600 %s)", perm, path)
}

// maxSecretBytes bounds a secret file: a token or password is a line, and
// a path given by mistake (a log, a disk) must not be read whole.
const maxSecretBytes = 64 << 10

// readSecret reads the secret in the file at path: its content less one
// final newline (the one echo and editors add). warning is set when the
// file's mode lets others than its owner read it.
func readSecret(path string) (secret, warning string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", "", errors.Unwrap(err) // the path is in the caller's message
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", "", err
	}
	if !st.Mode().IsRegular() {
		return "", "", errors.New("not a regular file")
	}
	if perm := st.Mode().Perm(); perm&^0o600 != 0 {
		warning = looseMode(perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSecretBytes+1))
	if err != nil {
		return "", "", err
	}
	if len(b) > maxSecretBytes {
		return "", "", fmt.Errorf("larger than %d KiB: not a secret", maxSecretBytes>>10)
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	switch {
	case s == "":
		return "", "", errors.New("is empty")
	case strings.ContainsAny(s, "\r\n"):
		return "", "", errors.New("holds more than one line: the secret is the file's one line")
	}
	return s, warning, nil
}
