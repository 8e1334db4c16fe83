package slack

import (
	"strings"
	"testing"
)

// FuzzParseRequest feeds Slack message text (mrkdwn escapes, <@U…|name>
// mentions, <url|label> links) through the mention stripper and the request
// parser: it must never panic, and an accepted prompt keeps no mention of
// the bot.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		"<@UBOT> make it snowy", "<@UBOT|fluxbot> a fox --ar 9:16 --model max --seed 7",
		"&lt;tag&gt; &amp; <#C123|general> --format jpeg", "<@UBOT>", "--image <https://example.com/a.png|a.png>",
		"a lighthouse —ar 16:9 <@UBOT>", "<@UBOT",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		req, _, err := parseRequest(stripMention(text, "UBOT"), nil, nil)
		if err != nil {
			return
		}
		if strings.Contains(req.Prompt, "<@UBOT>") {
			t.Errorf("prompt %q keeps the bot's mention", req.Prompt)
		}
	})
}
