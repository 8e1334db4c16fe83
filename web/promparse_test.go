package web_test

import (
	"bytes"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/fluxbot/fluxbot/web"
)

// A tiny parser and validator for the Prometheus text exposition format
// (version 0.0.4), strict enough to catch what a scraper would reject.

type promSample struct {
	name   string
	labels map[string]string
	value  float64
}

type promFamily struct {
	name, typ, help string
	hasHelp         bool
	samples         []promSample
}

type promText struct {
	families map[string]*promFamily
	order    []string
}

var promName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
var promLabelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// familyOf maps a sample name onto the family that owns it.
func (p *promText) familyOf(name string) *promFamily {
	if f, ok := p.families[name]; ok && f.typ != "histogram" && f.typ != "summary" {
		return f
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suf); ok {
			if f, ok := p.families[base]; ok && (f.typ == "histogram" || (f.typ == "summary" && suf != "_bucket")) {
				return f
			}
		}
	}
	return nil
}

// parseLabels parses `a="x",b="y"` (the part between braces).
func parseLabels(s string) (map[string]string, error) {
	out := map[string]string{}
	for len(s) > 0 {
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			return nil, fmt.Errorf("label without '=' in %q", s)
		}
		name := strings.TrimSpace(s[:eq])
		if !promLabelName.MatchString(name) {
			return nil, fmt.Errorf("bad label name %q", name)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("duplicate label %q", name)
		}
		s = s[eq+1:]
		if len(s) == 0 || s[0] != '"' {
			return nil, fmt.Errorf("label %s value not quoted", name)
		}
		var v strings.Builder
		i := 1
		closed := false
		for i < len(s) {
			c := s[i]
			if c == '\\' {
				if i+1 >= len(s) {
					return nil, fmt.Errorf("dangling escape in label %s", name)
				}
				switch s[i+1] {
				case '\\':
					v.WriteByte('\\')
				case '"':
					v.WriteByte('"')
				case 'n':
					v.WriteByte('\n')
				default:
					return nil, fmt.Errorf("invalid escape sequence \\%c in label %s", s[i+1], name)
				}
				i += 2
				continue
			}
			if c == '"' {
				closed = true
				i++
				break
			}
			if c == '\n' {
				return nil, fmt.Errorf("raw newline in label %s", name)
			}
			v.WriteByte(c)
			i++
		}
		if !closed {
			return nil, fmt.Errorf("unterminated label value for %s", name)
		}
		out[name] = v.String()
		s = s[i:]
		if strings.HasPrefix(s, ",") {
			s = s[1:]
		} else if len(s) > 0 {
			return nil, fmt.Errorf("junk after label %s: %q", name, s)
		}
	}
	return out, nil
}

func labelKey(l map[string]string, skip string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(l)) {
		if k != skip {
			parts = append(parts, k+"="+strconv.Quote(l[k]))
		}
	}
	return strings.Join(parts, ",")
}

// parseProm parses and validates exposition text. It checks that every
// sample line is `name{labels} value`, that each family has HELP and TYPE
// before its samples and appears once, that no sample repeats, and that
// every histogram series has cumulative, non-decreasing buckets ending in
// +Inf equal to _count, plus a _sum.
func parseProm(text string) (*promText, error) {
	p := &promText{families: map[string]*promFamily{}}
	seen := map[string]bool{}
	var cur *promFamily
	closedFams := map[string]bool{}
	if text != "" && !strings.HasSuffix(text, "\n") {
		return nil, fmt.Errorf("output does not end with a newline")
	}
	for n, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		ln := n + 1
		if line == "" {
			continue
		}
		if !utf8.ValidString(line) {
			return nil, fmt.Errorf("line %d: invalid UTF-8", ln)
		}
		if strings.HasPrefix(line, "#") {
			f := strings.Fields(line)
			if len(f) >= 3 && (f[1] == "HELP" || f[1] == "TYPE") {
				name := f[2]
				if !promName.MatchString(name) {
					return nil, fmt.Errorf("line %d: bad metric name %q", ln, name)
				}
				fam := p.families[name]
				if fam == nil {
					if closedFams[name] {
						return nil, fmt.Errorf("line %d: family %s reopened", ln, name)
					}
					fam = &promFamily{name: name}
					p.families[name] = fam
					p.order = append(p.order, name)
				}
				if cur != nil && cur != fam {
					closedFams[cur.name] = true
				}
				cur = fam
				if len(fam.samples) > 0 {
					return nil, fmt.Errorf("line %d: %s after samples of %s", ln, f[1], name)
				}
				if f[1] == "HELP" {
					if fam.hasHelp {
						return nil, fmt.Errorf("line %d: second HELP for %s", ln, name)
					}
					fam.hasHelp = true
					fam.help = strings.TrimPrefix(line, "# HELP "+name+" ")
				} else {
					if fam.typ != "" {
						return nil, fmt.Errorf("line %d: second TYPE for %s", ln, name)
					}
					if len(f) != 4 || !slices.Contains([]string{"counter", "gauge", "histogram", "summary", "untyped"}, f[3]) {
						return nil, fmt.Errorf("line %d: bad TYPE line %q", ln, line)
					}
					fam.typ = f[3]
				}
			}
			continue
		}
		// name{labels} value [timestamp]
		var name, labels, rest string
		if i := strings.IndexByte(line, '{'); i >= 0 {
			j := strings.LastIndex(line, "}")
			if j < i {
				return nil, fmt.Errorf("line %d: unbalanced braces: %q", ln, line)
			}
			name, labels, rest = line[:i], line[i+1:j], line[j+1:]
		} else {
			sp := strings.IndexByte(line, ' ')
			if sp < 0 {
				return nil, fmt.Errorf("line %d: no value: %q", ln, line)
			}
			name, rest = line[:sp], line[sp:]
		}
		if !promName.MatchString(name) {
			return nil, fmt.Errorf("line %d: bad metric name %q", ln, name)
		}
		if !strings.HasPrefix(rest, " ") {
			return nil, fmt.Errorf("line %d: no space before the value: %q", ln, line)
		}
		fields := strings.Fields(rest)
		if len(fields) < 1 || len(fields) > 2 {
			return nil, fmt.Errorf("line %d: want value [timestamp]: %q", ln, line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: value %q is not a float", ln, fields[0])
		}
		lm, err := parseLabels(labels)
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", ln, err)
		}
		fam := p.familyOf(name)
		if fam == nil {
			return nil, fmt.Errorf("line %d: sample %s before its HELP/TYPE", ln, name)
		}
		if !fam.hasHelp || fam.typ == "" {
			return nil, fmt.Errorf("line %d: family %s lacks HELP or TYPE before samples", ln, fam.name)
		}
		if fam != cur {
			return nil, fmt.Errorf("line %d: sample of %s outside its family block", ln, fam.name)
		}
		key := name + "{" + labelKey(lm, "") + "}"
		if seen[key] {
			return nil, fmt.Errorf("line %d: duplicate sample %s", ln, key)
		}
		seen[key] = true
		fam.samples = append(fam.samples, promSample{name: name, labels: lm, value: v})
	}
	for _, name := range p.order {
		f := p.families[name]
		if !f.hasHelp || f.typ == "" {
			return nil, fmt.Errorf("family %s lacks HELP or TYPE", name)
		}
		if f.typ == "histogram" {
			if err := checkHistogram(f); err != nil {
				return nil, err
			}
		}
	}
	return p, nil
}

func checkHistogram(f *promFamily) error {
	type series struct {
		les    []float64
		counts []float64
		sum    *float64
		count  *float64
	}
	all := map[string]*series{}
	get := func(k string) *series {
		if all[k] == nil {
			all[k] = &series{}
		}
		return all[k]
	}
	for _, s := range f.samples {
		switch s.name {
		case f.name + "_bucket":
			le, ok := s.labels["le"]
			if !ok {
				return fmt.Errorf("%s: bucket without le", f.name)
			}
			b, err := strconv.ParseFloat(le, 64)
			if err != nil {
				return fmt.Errorf("%s: bad le %q", f.name, le)
			}
			sr := get(labelKey(s.labels, "le"))
			sr.les = append(sr.les, b)
			sr.counts = append(sr.counts, s.value)
		case f.name + "_sum":
			v := s.value
			get(labelKey(s.labels, "")).sum = &v
		case f.name + "_count":
			v := s.value
			get(labelKey(s.labels, "")).count = &v
		default:
			return fmt.Errorf("%s: unexpected sample %s", f.name, s.name)
		}
	}
	for k, sr := range all {
		if len(sr.les) == 0 || !math.IsInf(sr.les[len(sr.les)-1], 1) {
			return fmt.Errorf("%s{%s}: no +Inf bucket last", f.name, k)
		}
		for i := 1; i < len(sr.les); i++ {
			if !(sr.les[i] > sr.les[i-1]) {
				return fmt.Errorf("%s{%s}: le not increasing", f.name, k)
			}
			if sr.counts[i] < sr.counts[i-1] {
				return fmt.Errorf("%s{%s}: bucket counts decrease at le=%v", f.name, k, sr.les[i])
			}
		}
		if sr.count == nil || sr.sum == nil {
			return fmt.Errorf("%s{%s}: missing _sum or _count", f.name, k)
		}
		if *sr.count != sr.counts[len(sr.counts)-1] {
			return fmt.Errorf("%s{%s}: +Inf bucket %v != count %v", f.name, k, sr.counts[len(sr.counts)-1], *sr.count)
		}
	}
	return nil
}

// value returns the sample name{labels} exactly (all labels given).
func (p *promText) value(name string, labels map[string]string) (float64, bool) {
	f := p.familyOf(name)
	if f == nil {
		return 0, false
	}
	want := labelKey(labels, "")
	for _, s := range f.samples {
		if s.name == name && labelKey(s.labels, "") == want {
			return s.value, true
		}
	}
	return 0, false
}

// scrape renders m and parses it, failing the test on invalid output.
func scrape(t *testing.T, m *web.Metrics) *promText {
	t.Helper()
	var b bytes.Buffer
	m.Write(&b)
	p, err := parseProm(b.String())
	if err != nil {
		t.Fatalf("metrics output is not valid Prometheus text: %v\n%s", err, b.String())
	}
	return p
}

// L builds a label map from pairs.
func L(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// TestParserRejectsBadText makes sure the validator itself has teeth.
func TestParserRejectsBadText(t *testing.T) {
	good := "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\"} 3\n"
	if _, err := parseProm(good); err != nil {
		t.Fatalf("good text rejected: %v", err)
	}
	bad := map[string]string{
		"no TYPE":          "# HELP a_total A.\na_total 1\n",
		"no HELP":          "# TYPE a_total counter\na_total 1\n",
		"no family":        "a_total 1\n",
		"not a float":      "# HELP a A.\n# TYPE a gauge\na one\n",
		"bad escape":       "# HELP a A.\n# TYPE a gauge\na{x=\"\\x01\"} 1\n",
		"unterminated":     "# HELP a A.\n# TYPE a gauge\na{x=\"1} 1\n",
		"duplicate":        "# HELP a A.\n# TYPE a gauge\na 1\na 2\n",
		"reopened":         "# HELP a A.\n# TYPE a gauge\na 1\n# HELP b B.\n# TYPE b gauge\nb 1\n# HELP a A.\n",
		"no trailing nl":   "# HELP a A.\n# TYPE a gauge\na 1",
		"bucket decreases": "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
		"inf != count":     "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n",
		"no +Inf":          "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",
	}
	for name, text := range bad {
		if _, err := parseProm(text); err == nil {
			t.Errorf("%s: accepted:\n%s", name, text)
		}
	}
}
