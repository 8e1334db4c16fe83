package imaging

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// Flags are the options a person may type inline after a prompt, the way
// Midjourney users do: "a lighthouse at dawn --ar 16:9 --model max". The
// terminal command and both chat front ends share this parser.
type Flags struct {
	Prompt      string
	Vendor      string
	Model       Model
	AspectRatio string
	Format      Format
	Seed        *int64
	Upsample    bool
	Safety      *int
	// Images are --image URLs, in order.
	Images []string
}

// FlagHelp lists the inline flags, for error and help messages.
const FlagHelp = "--ar W:H, --model pro|max, --format png|jpeg, --seed N, --upsample, --safety N, --vendor NAME, --image URL"

// MaxPromptInput bounds the text the parser accepts at all, before any
// vendor's own limit.
const MaxPromptInput = 12000

// ParseFlags splits text into the prompt and its inline flags. Flags may
// appear anywhere, as "--name value" or "--name=value"; an em or en dash
// (phones turn "--" into "—") works as "--". A token that only looks like a
// flag ("--" alone, "-->" ) stays in the prompt. Errors are KindInvalid
// *Error values with a message for the user.
func ParseFlags(text string) (Flags, error) {
	var f Flags
	if len(text) > MaxPromptInput*4 || len([]rune(text)) > MaxPromptInput {
		return f, &Error{Kind: KindInvalid, Message: fmt.Sprintf("That prompt is too long (more than %d characters).", MaxPromptInput)}
	}
	toks := strings.FieldsFunc(text, unicode.IsSpace)
	var prompt []string
	seen := map[string]bool{}
	for i := 0; i < len(toks); i++ {
		name, val, hasVal, ok := flagToken(toks[i])
		if !ok {
			prompt = append(prompt, toks[i])
			continue
		}
		canon, known := flagAliases[name]
		if !known {
			return f, &Error{Kind: KindInvalid, Message: fmt.Sprintf("I don't know the option --%s. Options: %s.", name, FlagHelp)}
		}
		if canon == "upsample" {
			if hasVal {
				b, err := strconv.ParseBool(val)
				if err != nil {
					return f, &Error{Kind: KindInvalid, Message: "--upsample takes no value (or true/false)."}
				}
				f.Upsample = b
			} else {
				f.Upsample = true
			}
			continue
		}
		if !hasVal {
			if i+1 >= len(toks) {
				return f, &Error{Kind: KindInvalid, Message: fmt.Sprintf("--%s needs a value, e.g. %s.", name, flagExample[canon])}
			}
			i++
			val = toks[i]
		}
		if seen[canon] && canon != "image" {
			return f, &Error{Kind: KindInvalid, Message: fmt.Sprintf("--%s is given twice.", name)}
		}
		seen[canon] = true
		if err := f.set(canon, val); err != nil {
			return f, err
		}
	}
	f.Prompt = strings.Join(prompt, " ")
	return f, nil
}

// Apply copies the prompt and every flag that was given onto r.
func (f *Flags) Apply(r *Request) {
	r.Prompt = f.Prompt
	if f.Model != "" {
		r.Model = f.Model
	}
	if f.AspectRatio != "" {
		r.AspectRatio = f.AspectRatio
	}
	if f.Format != "" {
		r.Format = f.Format
	}
	if f.Seed != nil {
		r.Seed = f.Seed
	}
	if f.Upsample {
		r.PromptUpsampling = true
	}
	if f.Safety != nil {
		r.SafetyTolerance = f.Safety
	}
	for _, u := range f.Images {
		r.Images = append(r.Images, Image{URL: u})
	}
}

var flagAliases = map[string]string{
	"ar": "ar", "aspect": "ar", "aspect-ratio": "ar",
	"model": "model", "m": "model",
	"format": "format", "f": "format",
	"seed":     "seed",
	"upsample": "upsample", "upsampling": "upsample",
	"safety": "safety", "safety-tolerance": "safety",
	"vendor": "vendor",
	"image":  "image", "img": "image",
}

var flagExample = map[string]string{
	"ar": "--ar 16:9", "model": "--model max", "format": "--format jpeg", "seed": "--seed 42",
	"safety": "--safety 2", "vendor": "--vendor poyo", "image": "--image https://example.com/cat.png",
}

// flagToken recognises "--name", "--name=value", "—name" and "–name".
func flagToken(tok string) (name, val string, hasVal, ok bool) {
	var rest string
	switch {
	case strings.HasPrefix(tok, "--"):
		rest = tok[2:]
	case strings.HasPrefix(tok, "—"):
		rest = strings.TrimPrefix(tok, "—")
	case strings.HasPrefix(tok, "–"):
		rest = strings.TrimPrefix(tok, "–")
	default:
		return "", "", false, false
	}
	if rest == "" || !isASCIILetter(rest[0]) {
		return "", "", false, false
	}
	name, val, hasVal = strings.Cut(rest, "=")
	return strings.ToLower(name), val, hasVal, true
}

func (f *Flags) set(canon, val string) error {
	bad := func(format string, args ...any) error {
		return &Error{Kind: KindInvalid, Message: fmt.Sprintf(format, args...)}
	}
	switch canon {
	case "ar":
		val = strings.ReplaceAll(val, "∶", ":")
		if _, ok := ParseAspect(val); !ok {
			return bad("The aspect ratio %q isn't W:H, e.g. --ar 16:9.", trunc(val))
		}
		f.AspectRatio = val
	case "model":
		switch m := Model(strings.ToLower(val)); m {
		case ModelPro, ModelMax:
			f.Model = m
		default:
			return bad("The model %q isn't one I know; use --model pro or --model max.", trunc(val))
		}
	case "format":
		switch strings.ToLower(val) {
		case "png":
			f.Format = FormatPNG
		case "jpeg", "jpg":
			f.Format = FormatJPEG
		default:
			return bad("The format %q isn't one I know; use --format png or --format jpeg.", trunc(val))
		}
	case "seed":
		n, err := strconv.ParseInt(val, 10, 64)
		if err != nil {
			return bad("The seed %q isn't a whole number, e.g. --seed 42.", trunc(val))
		}
		f.Seed = &n
	case "safety":
		n, err := strconv.Atoi(val)
		if err != nil || n < 0 || n > 6 {
			return bad("The safety tolerance %q isn't a number from 0 to 6.", trunc(val))
		}
		f.Safety = &n
	case "vendor":
		f.Vendor = strings.ToLower(val)
	case "image":
		u := strings.Trim(val, "<>") // Slack wraps links in <…>
		if i := strings.IndexByte(u, '|'); i >= 0 {
			u = u[:i] // Slack's <url|label>
		}
		if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
			return bad("The image %q isn't a link starting with https://.", trunc(val))
		}
		if len(u) > 2048 {
			return bad("The image link is too long.")
		}
		f.Images = append(f.Images, u)
	}
	return nil
}

func trunc(s string) string {
	if r := []rune(s); len(r) > 40 {
		return string(r[:40]) + "…"
	}
	return s
}

func isASCIILetter(b byte) bool { return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' }
