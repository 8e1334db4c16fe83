package slack

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"

	slackapi "github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
)

// maxBody bounds an HTTP-mode request body.
const maxBody = 1 << 20

// Handler serves Slack's HTTP-mode requests: POST /slack/commands,
// /slack/events (url_verification included) and /slack/interactivity.
// Every request's signature and timestamp (within 5 minutes of the local
// clock) are verified with the signing secret before anything else is done
// with it; an unsigned, wrongly signed or stale request gets 401, and every
// request when no signing secret is configured. Answers come within Slack's
// 3 s; work that takes longer continues after the response.
func (b *Bot) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /slack/commands", b.verified(b.serveCommand))
	mux.Handle("POST /slack/events", b.verified(b.serveEvents))
	mux.Handle("POST /slack/interactivity", b.verified(b.serveInteractivity))
	return mux
}

type signedHandler func(w http.ResponseWriter, r *http.Request, body []byte)

// verified reads the body (bounded) and checks Slack's v0 signature over it
// before calling next.
func (b *Bot) verified(next signedHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(w, "cannot read the request body", http.StatusBadRequest)
			return
		}
		if b.cfg.SigningSecret == "" {
			http.Error(w, "HTTP mode is not configured", http.StatusUnauthorized)
			return
		}
		sv, err := slackapi.NewSecretsVerifier(r.Header, b.cfg.SigningSecret)
		if err == nil {
			_, _ = sv.Write(body)
			err = sv.Ensure()
		}
		if err != nil {
			b.log.DebugContext(r.Context(), "rejected an unverified request", "path", r.URL.Path, "err", err)
			http.Error(w, "invalid or missing Slack signature", http.StatusUnauthorized)
			return
		}
		next(w, r, body)
	})
}

func (b *Bot) serveCommand(w http.ResponseWriter, r *http.Request, body []byte) {
	v, err := url.ParseQuery(string(body))
	if err != nil {
		http.Error(w, "bad form body", http.StatusBadRequest)
		return
	}
	if v.Get("ssl_check") == "1" {
		w.WriteHeader(http.StatusOK)
		return
	}
	sc := slackapi.SlashCommand{
		TeamID: v.Get("team_id"), TeamDomain: v.Get("team_domain"), EnterpriseID: v.Get("enterprise_id"),
		ChannelID: v.Get("channel_id"), ChannelName: v.Get("channel_name"), UserID: v.Get("user_id"),
		UserName: v.Get("user_name"), Command: v.Get("command"), Text: v.Get("text"),
		ResponseURL: v.Get("response_url"), TriggerID: v.Get("trigger_id"), APIAppID: v.Get("api_app_id"),
	}
	if sc.ChannelID == "" || sc.UserID == "" {
		http.Error(w, "not a slash command", http.StatusBadRequest)
		return
	}
	if rep := b.command(r.Context(), sc); rep != nil {
		writeJSON(w, rep)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (b *Bot) serveEvents(w http.ResponseWriter, r *http.Request, body []byte) {
	ev, err := slackevents.ParseEvent(json.RawMessage(body), slackevents.OptionNoVerifyToken())
	if err != nil {
		// An event type this app does not handle: answer 200 so that Slack
		// does not retry it.
		b.log.DebugContext(r.Context(), "event not understood", "err", err)
		w.WriteHeader(http.StatusOK)
		return
	}
	switch ev.Type {
	case slackevents.URLVerification:
		c, ok := ev.Data.(*slackevents.EventsAPIURLVerificationEvent)
		if !ok {
			http.Error(w, "bad url_verification", http.StatusBadRequest)
			return
		}
		writeJSON(w, map[string]string{"challenge": c.Challenge})
		return
	case slackevents.CallbackEvent:
		if n, _ := strconv.Atoi(r.Header.Get("X-Slack-Retry-Num")); n > 0 {
			b.log.DebugContext(r.Context(), "event delivery retried", "retry", n, "reason", r.Header.Get("X-Slack-Retry-Reason"))
		}
		b.event(r.Context(), ev)
	}
	w.WriteHeader(http.StatusOK)
}

func (b *Bot) serveInteractivity(w http.ResponseWriter, r *http.Request, body []byte) {
	v, err := url.ParseQuery(string(body))
	if err != nil || v.Get("payload") == "" {
		http.Error(w, "bad interactivity payload", http.StatusBadRequest)
		return
	}
	var cb slackapi.InteractionCallback
	if err := json.Unmarshal([]byte(v.Get("payload")), &cb); err != nil {
		http.Error(w, "bad interactivity payload", http.StatusBadRequest)
		return
	}
	if out := b.interaction(r.Context(), cb); out != nil {
		writeJSON(w, out)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}
