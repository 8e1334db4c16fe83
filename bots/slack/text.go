package slack

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/fluxbot/fluxbot/imaging"
	"github.com/fluxbot/fluxbot/jobs"
)

// escape makes s safe inside mrkdwn text: Slack's three control characters
// become entities, so a prompt cannot ping anyone or forge a link.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

var (
	linkRE    = regexp.MustCompile(`<((?:https?|mailto):[^|>]*)(?:\|[^>]*)?>`)
	channelRE = regexp.MustCompile(`<#[A-Z0-9]+\|([^>]*)>`)
)

// plain turns Slack's message formatting back into what the person typed:
// links lose their angle brackets and labels, channel references become
// #name, and the entities &amp; &lt; &gt; are decoded. User mentions stay.
func plain(s string) string {
	s = linkRE.ReplaceAllString(s, "$1")
	s = channelRE.ReplaceAllString(s, "#$1")
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s)
}

// stripMention removes the bot's own mentions from text.
func stripMention(text, botUserID string) string {
	if botUserID == "" {
		return text
	}
	re := regexp.MustCompile(`<@` + regexp.QuoteMeta(botUserID) + `(\|[^>]*)?>`)
	return strings.TrimSpace(re.ReplaceAllString(text, " "))
}

// clip shortens s to at most n runes, ending in "…" when cut.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// quoted is the prompt as shown in messages: escaped, clipped, in quotes.
func quoted(prompt string, n int) string {
	return "“" + escape(clip(strings.TrimSpace(prompt), n)) + "”"
}

func ordinal(n int) string {
	suffix := "th"
	switch n % 100 {
	case 11, 12, 13:
	default:
		switch n % 10 {
		case 1:
			suffix = "st"
		case 2:
			suffix = "nd"
		case 3:
			suffix = "rd"
		}
	}
	return strconv.Itoa(n) + suffix
}

// statusText is the status message for a job in progress.
func statusText(t *target, prompt string, u jobs.Update) string {
	verb := "is imagining"
	if t.Edit {
		verb = "is editing an image:"
	}
	s := fmt.Sprintf("⏳ <@%s> %s %s", t.User, verb, quoted(prompt, 300))
	switch u.Phase {
	case jobs.Queued:
		if u.Position > 0 {
			s += fmt.Sprintf(" — queued, %s in line", ordinal(u.Position))
		} else {
			s += " — queued"
		}
	case jobs.Starting:
		s += " — starting"
	default:
		s += " — generating"
		if u.Percent >= 0 {
			s += fmt.Sprintf(" %d%%", u.Percent)
		}
		if u.Elapsed >= time.Second {
			s += " (" + imaging.HumanDuration(u.Elapsed) + ")"
		}
	}
	return s
}

// failText is the status message of a failed job.
func failText(t *target, prompt, msg string) string {
	what := "make"
	if t.Edit {
		what = "edit the image for"
	}
	return fmt.Sprintf("⚠️ <@%s>, I couldn't %s %s: %s", t.User, what, quoted(prompt, 300), escape(msg))
}

// modelName is the model as users know it.
func modelName(m imaging.Model) string {
	switch m {
	case imaging.ModelMax:
		return "Flux Kontext Max"
	case imaging.ModelPro:
		return "Flux Kontext Pro"
	}
	return "Flux Kontext " + string(m)
}

// details is the caption line under a result: model, vendor, seed, time,
// cost and the job's short id.
func details(j *jobs.Job, r *imaging.Result) string {
	parts := []string{modelName(j.Request.ModelOrDefault())}
	if v := j.Vendor; v != "" {
		parts = append(parts, escape(v))
	}
	if ar := j.Request.AspectRatio; ar != "" {
		parts = append(parts, escape(ar))
	}
	seed := j.Seed
	if r != nil && r.Seed != nil {
		seed = r.Seed
	}
	if seed != nil {
		parts = append(parts, "seed "+strconv.FormatInt(*seed, 10))
	}
	if j.Elapsed > 0 {
		parts = append(parts, imaging.HumanDuration(j.Elapsed))
	}
	cost := j.Cost
	if r != nil && r.Cost != nil {
		cost = r.Cost
	}
	if cost != nil {
		parts = append(parts, escape(cost.String()))
	}
	parts = append(parts, "`"+jobs.ShortID(j.ID)+"`")
	return strings.Join(parts, " · ")
}

// fileExt is the file name extension for a result's content type.
func fileExt(contentType string) string {
	switch contentType {
	case "image/jpeg":
		return ".jpg"
	case "image/webp":
		return ".webp"
	case "image/gif":
		return ".gif"
	}
	return ".png"
}
