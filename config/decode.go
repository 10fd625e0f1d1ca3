package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Load builds the configuration of a node: the defaults, then the YAML file (if path is not
// empty), then the secrets from the environment (NEBULAIO_*). Command-line flags are applied
// afterwards by the caller with Flags. Decoding is strict: every problem names its key and line.
func Load(path string, getenv func(string) string) (Config, error) {
	cfg := Default()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("config: %w", err)
		}
		if err := Decode(data, &cfg); err != nil {
			var ce *Error
			if errors.As(err, &ce) {
				ce.Source = path
			}
			return cfg, err
		}
	}
	ApplyEnv(&cfg, getenv)
	return cfg, nil
}

// Decode applies YAML document data on top of cfg. Unknown keys, wrong types, bad durations and
// negative or malformed numbers are reported together, each with its key path and line.
func Decode(data []byte, cfg *Config) error {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file is the defaults
		}
		return &Error{Problems: []Problem{{Key: "(file)", Message: strings.TrimPrefix(err.Error(), "yaml: ")}}}
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		return &Error{Problems: []Problem{{Key: "(file)", Line: next.Line, Message: "more than one YAML document", Hint: "remove the --- separator"}}}
	}
	d := &decoder{}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	if doc.Kind == yaml.ScalarNode && doc.Tag == "!!null" {
		return nil
	}
	d.value(doc, reflect.ValueOf(cfg).Elem(), "")
	if len(d.problems) > 0 {
		return &Error{Problems: d.problems}
	}
	return nil
}

type decoder struct {
	problems []Problem
}

func (d *decoder) fail(n *yaml.Node, key, format string, args ...any) {
	if key == "" {
		key = "(top level)"
	}
	d.problems = append(d.problems, Problem{Key: key, Line: n.Line, Message: fmt.Sprintf(format, args...)})
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// value decodes node n into v, reporting problems under key.
func (d *decoder) value(n *yaml.Node, v reflect.Value, key string) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch {
	case v.Type() == reflect.TypeOf(BootstrapMode("")):
		mode, err := parseBootstrap(n.Value)
		if n.Kind != yaml.ScalarNode || err != nil {
			d.fail(n, key, "want auto, true or false, got a %s", kindName(n))
			return
		}
		v.SetString(string(mode))
	case v.Type() == reflect.TypeOf(ByteSize(0)):
		if n.Kind != yaml.ScalarNode {
			d.fail(n, key, "want a size such as 64KiB, got a %s", kindName(n))
			return
		}
		size, err := parseByteSize(n.Value)
		if err != nil {
			d.fail(n, key, "%v", err)
			return
		}
		v.SetInt(int64(size))
	case v.Type() == reflect.TypeOf(Duration(0)):
		if n.Kind != yaml.ScalarNode {
			d.fail(n, key, "want a duration such as 5s, got a %s", kindName(n))
			return
		}
		dur, err := parseDuration(n.Value)
		if err != nil {
			d.fail(n, key, "%v", err)
			return
		}
		v.SetInt(int64(dur))
	case v.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			d.fail(n, key, "want a mapping of keys, got a %s", kindName(n))
			return
		}
		fields := map[string]int{}
		var names []string
		for i := 0; i < v.NumField(); i++ {
			tag := v.Type().Field(i).Tag.Get("yaml")
			fields[tag] = i
			names = append(names, tag)
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			path := join(key, k.Value)
			idx, ok := fields[k.Value]
			if !ok {
				d.problems = append(d.problems, Problem{Key: path, Line: k.Line, Message: "unknown key",
					Hint: suggest(k.Value, names, key)})
				continue
			}
			if seen[k.Value] {
				d.fail(k, path, "key given twice")
				continue
			}
			seen[k.Value] = true
			d.value(val, v.Field(idx), path)
		}
	case v.Kind() == reflect.Pointer:
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			v.SetZero()
			return
		}
		nv := reflect.New(v.Type().Elem())
		before := len(d.problems)
		d.value(n, nv.Elem(), key)
		if len(d.problems) == before {
			v.Set(nv)
		}
	case v.Kind() == reflect.Slice:
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			v.SetZero()
			return
		}
		if n.Kind != yaml.SequenceNode {
			d.fail(n, key, "want a list, got a %s", kindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.value(item, s.Index(i), fmt.Sprintf("%s[%d]", key, i))
		}
		v.Set(s)
	default:
		if n.Kind != yaml.ScalarNode {
			d.fail(n, key, "want a %s, got a %s", typeName(v.Type()), kindName(n))
			return
		}
		if err := setScalar(v, n.Value, n.Tag); err != nil {
			d.fail(n, key, "%v", err)
		}
	}
}

// setScalar parses text into the scalar v (string, bool, int). tag is the YAML tag, or "" for
// text from a flag or the environment.
func setScalar(v reflect.Value, text, tag string) error {
	switch v.Kind() {
	case reflect.String:
		if tag != "" && tag != "!!str" && tag != "!!int" && tag != "!!float" {
			return fmt.Errorf("want text, got %s %q", strings.TrimPrefix(tag, "!!"), text)
		}
		v.SetString(text)
	case reflect.Bool:
		b, err := strconv.ParseBool(text)
		if err != nil || (tag != "" && tag != "!!bool") {
			return fmt.Errorf("want true or false, got %q", text)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		i, err := strconv.ParseInt(strings.ReplaceAll(text, "_", ""), 0, 64)
		if err != nil || (tag != "" && tag != "!!int") {
			return fmt.Errorf("want a whole number, got %q", text)
		}
		if i < 0 {
			return fmt.Errorf("must not be negative, got %d", i)
		}
		v.SetInt(i)
	default:
		return fmt.Errorf("unsupported type %s", v.Type())
	}
	return nil
}

func parseDuration(text string) (time.Duration, error) {
	if text == "0" {
		return 0, nil
	}
	dur, err := time.ParseDuration(text)
	if err != nil {
		return 0, fmt.Errorf("want a duration such as 500ms, 5s or 1m, got %q", text)
	}
	if dur < 0 {
		return 0, fmt.Errorf("must not be negative, got %s", text)
	}
	return dur, nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%s %q", strings.TrimPrefix(n.Tag, "!!"), n.Value)
	}
	return "value"
}

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "text value"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64:
		return "whole number"
	}
	return t.String()
}

// suggest names the closest known key, for a typo such as `clustr:`.
func suggest(got string, known []string, prefix string) string {
	best, bestDist := "", 3
	for _, k := range known {
		if dist := editDistance(got, k); dist < bestDist {
			best, bestDist = k, dist
		}
	}
	if best == "" {
		return "known keys here: " + strings.Join(known, ", ")
	}
	return "did you mean " + join(prefix, best) + "?"
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Key describes one configuration key: its dotted path, documentation, environment variable
// (secrets only) and the field it sets.
type Key struct {
	Path   string
	Doc    string
	Env    string
	Secret bool
	field  func(*Config) reflect.Value
}

// Keys lists every configuration key in declaration order. It is the one source for the
// command-line flags, the README reference (checked by a test) and the decoder.
func Keys() []Key {
	var keys []Key
	var walk func(t reflect.Type, prefix string, index []int)
	walk = func(t reflect.Type, prefix string, index []int) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			path := join(prefix, f.Tag.Get("yaml"))
			idx := append(append([]int(nil), index...), i)
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(Duration(0)) {
				walk(f.Type, path, idx)
				continue
			}
			keys = append(keys, Key{
				Path: path, Doc: f.Tag.Get("doc"), Env: f.Tag.Get("env"), Secret: f.Tag.Get("secret") == "true",
				field: func(c *Config) reflect.Value { return reflect.ValueOf(c).Elem().FieldByIndex(idx) },
			})
		}
	}
	walk(reflect.TypeOf(Config{}), "", nil)
	return keys
}

// Set assigns text to the key at path, as a flag or environment variable would.
func (k Key) Set(c *Config, text string) error {
	v := k.field(c)
	switch {
	case v.Type() == reflect.TypeOf(BootstrapMode("")):
		mode, err := parseBootstrap(text)
		if err != nil {
			return err
		}
		v.SetString(string(mode))
	case v.Type() == reflect.TypeOf(ByteSize(0)):
		size, err := parseByteSize(text)
		if err != nil {
			return err
		}
		v.SetInt(int64(size))
	case v.Type() == reflect.TypeOf(Duration(0)):
		dur, err := parseDuration(text)
		if err != nil {
			return err
		}
		v.SetInt(int64(dur))
	case v.Kind() == reflect.Pointer:
		nv := reflect.New(v.Type().Elem())
		if err := setScalar(nv.Elem(), text, ""); err != nil {
			return err
		}
		v.Set(nv)
	case v.Kind() == reflect.Slice:
		var parts []string
		for _, p := range strings.Split(text, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		v.Set(reflect.ValueOf(parts))
	default:
		return setScalar(v, text, "")
	}
	return nil
}

// ApplyEnv sets the secret keys from their NEBULAIO_* environment variables when those are set.
func ApplyEnv(c *Config, getenv func(string) string) {
	for _, k := range Keys() {
		if k.Env == "" {
			continue
		}
		if val := getenv(k.Env); val != "" {
			_ = k.Set(c, val) // secrets are strings: Set cannot fail
		}
	}
}

// Flags registers one flag per key on fs, named by its dotted path (--cluster.bootstrap=false,
// --cluster.join_addresses=a:9004,b:9004). Parsed values are written into *target, so call it
// after loading the file and parse the flags afterwards: flags override the file.
func Flags(fs *flag.FlagSet, target *Config) {
	for _, k := range Keys() {
		k := k
		usage := k.Doc
		if k.Env != "" {
			usage += " (env " + k.Env + ")"
		}
		v := k.field(target)
		if v.Kind() == reflect.Bool || v.Type() == reflect.TypeOf(BootstrapMode("")) { // --key alone means true
			fs.BoolFunc(k.Path, usage, func(s string) error { return k.Set(target, s) })
			continue
		}
		fs.Func(k.Path, usage, func(s string) error {
			if err := k.Set(target, s); err != nil {
				return fmt.Errorf("%s: %w", k.Path, err)
			}
			return nil
		})
	}
}
