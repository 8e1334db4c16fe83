package imaging

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Range is an inclusive integer range.
type Range struct{ Min, Max int }

// Capabilities is what a vendor's documents allow. The core checks every
// request against them before anything is sent, so a request the vendor
// would reject is never sent.
type Capabilities struct {
	// DisplayName is how users see the vendor ("PoYo").
	DisplayName string
	Models      []Model
	// AspectRatios is the fixed list the vendor accepts. When it is empty,
	// any W:H between MinAspect and MaxAspect (width/height) is accepted.
	AspectRatios         []string
	MinAspect, MaxAspect float64
	Formats              []Format
	// MaxImages is how many reference images one request may carry.
	MaxImages int
	// ImageURLs reports that reference images may be public URLs.
	ImageURLs bool
	// ImageBytes reports that reference images may be bytes (the vendor
	// client uploads them or inlines them). When false, bytes need a URL
	// hosted by the bot.
	ImageBytes bool
	// MaxImageBytes bounds one reference image given as bytes (0: no limit
	// documented).
	MaxImageBytes int64
	// MaxPromptRunes bounds the prompt length in characters.
	MaxPromptRunes int
	// Safety is the accepted safety_tolerance range; nil means the vendor
	// does not expose it.
	Safety *Range
	// Seed and Upsampling report whether those options are sent.
	Seed       bool
	Upsampling bool
	// Callbacks reports that the vendor can POST the final state to a URL.
	Callbacks bool
	// Progress reports that status polls carry a progress percentage.
	Progress bool
	// PollDelay and PollInterval are the vendor's polling advice: the first
	// status poll after PollDelay, then every PollInterval.
	PollDelay, PollInterval time.Duration
	// Concurrency is the default cap on this bot's jobs in flight with the
	// vendor.
	Concurrency int
}

// SupportsModel reports whether m is offered.
func (c *Capabilities) SupportsModel(m Model) bool { return slices.Contains(c.Models, m) }

// SupportsAspect reports whether ar is accepted.
func (c *Capabilities) SupportsAspect(ar string) bool {
	if len(c.AspectRatios) > 0 {
		return slices.Contains(c.AspectRatios, ar)
	}
	r, ok := ParseAspect(ar)
	return ok && r >= c.MinAspect-1e-9 && r <= c.MaxAspect+1e-9
}

// AspectList describes the accepted aspect ratios for a message.
func (c *Capabilities) AspectList() string {
	if len(c.AspectRatios) > 0 {
		return strings.Join(c.AspectRatios, ", ")
	}
	return "any ratio from " + ratioName(c.MinAspect) + " to " + ratioName(c.MaxAspect)
}

func ratioName(r float64) string {
	for _, s := range []string{"21:9", "16:9", "4:3", "1:1", "3:4", "9:16", "9:21"} {
		if v, _ := ParseAspect(s); v > r-1e-6 && v < r+1e-6 {
			return s
		}
	}
	return strconv.FormatFloat(r, 'f', 2, 64)
}

// ParseAspect parses "W:H" with positive integers and returns W/H.
func ParseAspect(s string) (float64, bool) {
	w, h, ok := strings.Cut(s, ":")
	if !ok {
		return 0, false
	}
	if !plainNumber(w) || !plainNumber(h) {
		return 0, false
	}
	wi, err1 := strconv.Atoi(w)
	hi, err2 := strconv.Atoi(h)
	if err1 != nil || err2 != nil || wi <= 0 || hi <= 0 || wi > 10000 || hi > 10000 {
		return 0, false
	}
	return float64(wi) / float64(hi), true
}

func joinModels(ms []Model) string {
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = string(m)
	}
	return strings.Join(s, ", ")
}

func joinFormats(fs []Format) string {
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = string(f)
	}
	return strings.Join(s, ", ")
}

// Check reports the first way req breaks the vendor's documented rules, as a
// KindInvalid or KindUnsupported *Error whose message names the problem and
// the allowed values. hostImages reports that the bot can turn image bytes
// into a public URL for vendors that take only URLs.
func (c *Capabilities) Check(req *Request, hostImages bool) error {
	name := c.DisplayName
	inv := func(format string, args ...any) error {
		return &Error{Kind: KindInvalid, Vendor: name, Message: fmt.Sprintf(format, args...)}
	}
	p := strings.TrimSpace(req.Prompt)
	if p == "" {
		return inv("Please describe the image you want (the prompt is empty).")
	}
	if n := utf8.RuneCountInString(req.Prompt); c.MaxPromptRunes > 0 && n > c.MaxPromptRunes {
		return inv("The prompt is %d characters long; %s accepts at most %d.", n, name, c.MaxPromptRunes)
	}
	if m := req.ModelOrDefault(); !c.SupportsModel(m) {
		return inv("%s doesn't offer the %s model; it supports %s.", name, m, joinModels(c.Models))
	}
	if ar := req.AspectRatio; ar != "" && !c.SupportsAspect(ar) {
		return inv("%s doesn't support the aspect ratio %s; it supports %s.", name, ar, c.AspectList())
	}
	if f := req.FormatOrDefault(); !slices.Contains(c.Formats, f) {
		return inv("%s doesn't support the %s format; it supports %s.", name, f, joinFormats(c.Formats))
	}
	if req.Seed != nil && !c.Seed {
		return inv("%s doesn't support a fixed seed. Remove --seed, or choose a vendor that supports it.", name)
	}
	if req.PromptUpsampling && !c.Upsampling {
		return inv("%s doesn't support prompt upsampling. Remove --upsample.", name)
	}
	if st := req.SafetyTolerance; st != nil {
		if c.Safety == nil {
			return inv("%s doesn't let the safety tolerance be set. Remove --safety.", name)
		}
		if *st < c.Safety.Min || *st > c.Safety.Max {
			return inv("%s accepts a safety tolerance from %d to %d, not %d.", name, c.Safety.Min, c.Safety.Max, *st)
		}
	}
	if n := len(req.Images); n > c.MaxImages {
		if c.MaxImages == 1 {
			return inv("%s edits one image at a time, but %d were given.", name, n)
		}
		return inv("%s accepts at most %d reference images, but %d were given.", name, c.MaxImages, n)
	}
	for _, im := range req.Images {
		switch {
		case im.IsURL():
			if !c.ImageURLs {
				return inv("%s doesn't accept image links; attach the image instead.", name)
			}
			if !strings.HasPrefix(im.URL, "https://") && !strings.HasPrefix(im.URL, "http://") {
				return inv("The image link must start with https://.")
			}
		case len(im.Data) == 0:
			return inv("The reference image is empty.")
		case !c.ImageBytes && !hostImages:
			return &Error{Kind: KindUnsupported, Vendor: name, Message: fmt.Sprintf(
				"%s can only edit images it can download from a public link, and this bot isn't set up to host uploaded images (PUBLIC_URL is not set). Use an image link, or ask the operator to set PUBLIC_URL or choose another vendor.", name)}
		case c.MaxImageBytes > 0 && int64(len(im.Data)) > c.MaxImageBytes:
			return inv("The image is %s; %s accepts at most %s.", humanBytes(int64(len(im.Data))), name, humanBytes(c.MaxImageBytes))
		}
	}
	return nil
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MB"
	case n >= 1<<10:
		return strconv.FormatInt(n>>10, 10) + " KB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// plainNumber reports whether s is digits with no sign and no leading zero.
func plainNumber(s string) bool {
	if s == "" || len(s) > 5 || s[0] == '0' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
