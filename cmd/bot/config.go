package main

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fluxbot/fluxbot/imaging"
	"github.com/fluxbot/fluxbot/imaging/apixo"
	"github.com/fluxbot/fluxbot/imaging/poyo"
	"github.com/fluxbot/fluxbot/imaging/toapis"
	"github.com/fluxbot/fluxbot/imaging/vtrix"
	"github.com/fluxbot/fluxbot/ratelimit"
)

// vendorNames lists the supported vendors in the order they are offered.
var vendorNames = []string{"poyo", "toapis", "apixo", "vtrix"}

// vendorConfig is one vendor's settings.
type vendorConfig struct {
	Name, Key, BaseURL, WebhookSecret string
}

// Config is everything the binary reads from the environment. Only this
// package reads the environment.
type Config struct {
	Vendors       []vendorConfig // configured (key set), in vendorNames order
	DefaultVendor string

	PollDelay, PollInterval, Timeout time.Duration

	RateBurst       int
	RatePer         time.Duration
	UserConcurrency int
	DailyQuota      int
	Admins          []string
	AllowedChannels []string
	VendorConc      int

	DiscordToken          string
	DiscordAPIURL         string
	DiscordGuildIDs       []string
	DiscordMessageContent bool

	SlackBotToken      string
	SlackAppToken      string
	SlackSigningSecret string
	SlackAPIURL        string

	DataDir   string
	HTTPAddr  string
	PublicURL string
	LogLevel  string
	LogFormat string
}

// DiscordEnabled reports whether the Discord front end is configured.
func (c *Config) DiscordEnabled() bool { return c.DiscordToken != "" }

// SlackEnabled reports whether the Slack front end is configured.
func (c *Config) SlackEnabled() bool { return c.SlackBotToken != "" }

var defaultBases = map[string]string{
	"poyo":   poyo.DefaultBaseURL,
	"toapis": toapis.DefaultBaseURL,
	"apixo":  apixo.DefaultBaseURL,
	"vtrix":  vtrix.DefaultBaseURL,
}

// loadConfig reads and validates the configuration, reporting every problem
// at once.
func loadConfig(getenv func(string) string) (*Config, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	get := func(k string) string { return strings.TrimSpace(getenv(k)) }

	c := &Config{}
	for _, n := range vendorNames {
		up := strings.ToUpper(n)
		vc := vendorConfig{Name: n, Key: get(up + "_API_KEY"), BaseURL: get(up + "_BASE_URL")}
		if n == "poyo" || n == "toapis" { // the vendors that sign their callbacks
			vc.WebhookSecret = get(up + "_WEBHOOK_SECRET")
		}
		if vc.BaseURL == "" {
			vc.BaseURL = defaultBases[n]
		} else if u, err := url.Parse(vc.BaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad("%s_BASE_URL=%q is not an http(s) URL", up, vc.BaseURL)
		}
		if vc.Key != "" {
			c.Vendors = append(c.Vendors, vc)
		}
	}
	c.DefaultVendor = strings.ToLower(get("IMAGING_VENDOR"))
	if len(c.Vendors) == 0 && !(c.DefaultVendor != "" && slices.Contains(vendorNames, c.DefaultVendor)) {
		bad("no vendor API key is set: set one of POYO_API_KEY, TOAPIS_API_KEY, APIXO_API_KEY or VTRIX_API_KEY")
	}
	switch {
	case c.DefaultVendor != "" && !slices.Contains(vendorNames, c.DefaultVendor):
		bad("IMAGING_VENDOR=%s is not a vendor; use one of %s", c.DefaultVendor, strings.Join(vendorNames, ", "))
	case c.DefaultVendor != "" && !c.hasVendor(c.DefaultVendor):
		bad("IMAGING_VENDOR=%s but %s_API_KEY is empty", c.DefaultVendor, strings.ToUpper(c.DefaultVendor))
	case c.DefaultVendor == "" && len(c.Vendors) > 0:
		// One key: that vendor. Several: the first in the documented order
		// (poyo, toapis, apixo, vtrix); IMAGING_VENDOR overrides.
		c.DefaultVendor = c.Vendors[0].Name
	}

	dur := func(key string, def time.Duration) time.Duration {
		v := get(key)
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			bad("%s=%q is not a duration like 3s or 10m", key, v)
			return def
		}
		return d
	}
	num := func(key string, def int) int {
		v := get(key)
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			bad("%s=%q is not a whole number ≥ 0", key, v)
			return def
		}
		return n
	}
	c.PollDelay = dur("IMAGING_POLL_DELAY", 0)
	c.PollInterval = dur("IMAGING_POLL_INTERVAL", 0)
	c.Timeout = dur("IMAGING_TIMEOUT", 10*time.Minute)
	if c.Timeout == 0 {
		bad("IMAGING_TIMEOUT must be more than 0")
	}

	if rl := get("RATE_LIMIT"); rl != "" {
		b, per, err := ratelimit.ParseRate(rl)
		if err != nil {
			bad("RATE_LIMIT=%q: %v", rl, err)
		}
		c.RateBurst, c.RatePer = b, per
	} else {
		c.RateBurst, c.RatePer = 5, 10*time.Minute
	}
	c.UserConcurrency = num("USER_CONCURRENCY", 2)
	c.DailyQuota = num("DAILY_QUOTA", 0)
	c.VendorConc = num("VENDOR_CONCURRENCY", 0)
	c.Admins = ratelimit.ParseList(get("ADMIN_USERS"))
	c.AllowedChannels = ratelimit.ParseList(get("ALLOWED_CHANNELS"))
	for _, id := range append(slices.Clone(c.Admins), c.AllowedChannels...) {
		if !strings.HasPrefix(id, "discord:") && !strings.HasPrefix(id, "slack:") {
			bad("%q in ADMIN_USERS/ALLOWED_CHANNELS needs a platform prefix, like discord:123 or slack:T1/U2", id)
		}
	}

	c.DiscordToken = get("DISCORD_BOT_TOKEN")
	c.DiscordAPIURL = get("DISCORD_API_URL")
	c.DiscordGuildIDs = ratelimit.ParseList(get("DISCORD_GUILD_IDS"))
	if v := get("DISCORD_MESSAGE_CONTENT"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			bad("DISCORD_MESSAGE_CONTENT=%q: use true or false", v)
		}
		c.DiscordMessageContent = b
	}
	for _, g := range c.DiscordGuildIDs {
		if _, err := strconv.ParseUint(g, 10, 64); err != nil {
			bad("DISCORD_GUILD_IDS: %q is not a guild id (a number)", g)
		}
	}
	if c.DiscordAPIURL != "" {
		if u, err := url.Parse(c.DiscordAPIURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad("DISCORD_API_URL=%q is not an http(s) origin", c.DiscordAPIURL)
		}
	}
	c.SlackBotToken = get("SLACK_BOT_TOKEN")
	c.SlackAppToken = get("SLACK_APP_TOKEN")
	c.SlackSigningSecret = get("SLACK_SIGNING_SECRET")
	c.SlackAPIURL = get("SLACK_API_URL")
	if c.SlackBotToken != "" && !strings.HasPrefix(c.SlackBotToken, "xoxb-") {
		bad("SLACK_BOT_TOKEN must be a bot token starting with xoxb-")
	}
	if c.SlackAppToken != "" && !strings.HasPrefix(c.SlackAppToken, "xapp-") {
		bad("SLACK_APP_TOKEN must be an app-level token starting with xapp-")
	}
	if c.SlackBotToken != "" && c.SlackAppToken == "" && c.SlackSigningSecret == "" {
		bad("SLACK_BOT_TOKEN is set but neither SLACK_APP_TOKEN (Socket Mode) nor SLACK_SIGNING_SECRET (HTTP mode) is")
	}
	if c.SlackBotToken == "" && (c.SlackAppToken != "" || c.SlackSigningSecret != "") {
		bad("SLACK_APP_TOKEN or SLACK_SIGNING_SECRET is set but SLACK_BOT_TOKEN is empty")
	}
	if c.SlackAPIURL != "" {
		if u, err := url.Parse(c.SlackAPIURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad("SLACK_API_URL=%q is not an http(s) URL", c.SlackAPIURL)
		} else if !strings.HasSuffix(c.SlackAPIURL, "/") {
			c.SlackAPIURL += "/"
		}
	}

	c.DataDir = get("DATA_DIR")
	if c.DataDir == "" {
		c.DataDir = "data"
	}
	c.HTTPAddr = get("HTTP_ADDR")
	c.PublicURL = strings.TrimRight(get("PUBLIC_URL"), "/")
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad("PUBLIC_URL=%q is not an http(s) URL", c.PublicURL)
		}
		if c.HTTPAddr == "" {
			bad("PUBLIC_URL is set but HTTP_ADDR is empty: the bot needs its HTTP server to receive callbacks and serve images")
		}
	}
	if c.SlackSigningSecret != "" && c.SlackAppToken == "" && c.HTTPAddr == "" {
		bad("Slack HTTP mode (SLACK_SIGNING_SECRET without SLACK_APP_TOKEN) needs HTTP_ADDR for /slack/* endpoints")
	}
	c.LogLevel = strings.ToLower(get("LOG_LEVEL"))
	switch c.LogLevel {
	case "", "debug", "info", "warn", "error":
	default:
		bad("LOG_LEVEL=%q: use debug, info, warn or error", c.LogLevel)
	}
	c.LogFormat = strings.ToLower(get("LOG_FORMAT"))
	switch c.LogFormat {
	case "", "text", "json":
	default:
		bad("LOG_FORMAT=%q: use text or json", c.LogFormat)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

func (c *Config) hasVendor(name string) bool {
	return slices.ContainsFunc(c.Vendors, func(v vendorConfig) bool { return v.Name == name })
}

// newService builds the imaging core from the configured vendors.
func newService(c *Config) (*imaging.Service, error) {
	var vs []imaging.Vendor
	for _, vc := range c.Vendors {
		switch vc.Name {
		case "poyo":
			opts := []poyo.Option{poyo.WithBaseURL(vc.BaseURL)}
			if vc.WebhookSecret != "" {
				opts = append(opts, poyo.WithWebhookSecret(vc.WebhookSecret))
			}
			vs = append(vs, poyo.New(vc.Key, opts...))
		case "toapis":
			opts := []toapis.Option{toapis.WithBaseURL(vc.BaseURL)}
			if vc.WebhookSecret != "" && c.PublicURL != "" {
				opts = append(opts, toapis.WithWebhookSecret(vc.WebhookSecret))
			}
			vs = append(vs, toapis.New(vc.Key, opts...))
		case "apixo":
			vs = append(vs, apixo.New(vc.Key, apixo.WithBaseURL(vc.BaseURL)))
		case "vtrix":
			vs = append(vs, vtrix.New(vc.Key, vtrix.WithBaseURL(vc.BaseURL)))
		}
	}
	svc, err := imaging.NewService(c.DefaultVendor, vs...)
	if err != nil {
		return nil, err
	}
	svc.PollDelay, svc.PollInterval, svc.Timeout = c.PollDelay, c.PollInterval, c.Timeout
	return svc, nil
}

// newLimiter builds the per-user limiter from the configuration.
func newLimiter(c *Config) *ratelimit.Limiter {
	return ratelimit.New(ratelimit.Config{
		Burst: c.RateBurst, Per: c.RatePer, UserConcurrency: c.UserConcurrency,
		DailyQuota: c.DailyQuota, Admins: c.Admins, AllowedChannels: c.AllowedChannels,
	})
}
