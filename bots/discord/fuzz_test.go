package discord

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzParsePrompt feeds message text as a user could type it (with the
// bot's mention anywhere) through the mention stripper and the shared flag
// parser: it must never panic, and an accepted prompt keeps no mention of
// the bot and no typed image link.
func FuzzParsePrompt(f *testing.F) {
	for _, s := range []string{
		"<@123> make it snowy", "<@!123> a fox --ar 16:9 --model max", "a lighthouse —ar 9:16 <@123>",
		"<@123> --image https://example.com/x.png", "--seed 7 --seed 8", "<@123>", "<@12 3> --",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		req, _, err := parsePrompt(stripMention(text, "123"))
		if err != nil {
			return
		}
		if strings.Contains(req.Prompt, "<@123>") || strings.Contains(req.Prompt, "<@!123>") {
			t.Errorf("prompt %q keeps the bot's mention", req.Prompt)
		}
		if len(req.Images) > 0 {
			t.Errorf("a typed image link was accepted: %v", req.Images)
		}
	})
}

// FuzzParseTarget decodes stored reply targets: malformed data must be an
// error, never a panic.
func FuzzParseTarget(f *testing.F) {
	f.Add(`{"kind":"interaction","app_id":"1","token":"t","channel_id":"2"}`)
	f.Add(`{"kind":"message","channel_id":"2","message_id":"3"}`)
	f.Add(`null`)
	f.Add(`{"kind":7}`)
	f.Fuzz(func(t *testing.T, raw string) {
		tg, err := parseTarget(json.RawMessage(raw))
		if err == nil && tg == nil {
			t.Error("nil target without an error")
		}
	})
}
