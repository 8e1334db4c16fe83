package main

import (
	"github.com/fluxbot/fluxbot/bots/discord"
	"github.com/fluxbot/fluxbot/bots/slack"
)

// wireFrontEnds adds the configured chat front ends to the app: each is
// registered as the Reporter of its platform's jobs, counted in /healthz,
// and, for Slack's HTTP mode, mounted on the bot's HTTP server.
func (a *app) wireFrontEnds() error {
	vendors := a.manager.Service.Vendors()
	names := map[string]string{}
	for _, n := range vendors {
		if v, err := a.manager.Service.Vendor(n); err == nil {
			names[n] = v.Capabilities().DisplayName
		}
	}
	if a.cfg.DiscordEnabled() {
		b, err := discord.New(discord.Config{
			Token: a.cfg.DiscordToken, APIURL: a.cfg.DiscordAPIURL, GuildIDs: a.cfg.DiscordGuildIDs,
			MessageContent: a.cfg.DiscordMessageContent, Vendors: vendors, VendorNames: names, Log: a.log.With("platform", "discord"),
		}, a.manager)
		if err != nil {
			return err
		}
		a.manager.Register(discord.Platform, b)
		a.frontEnds = append(a.frontEnds, b)
		a.ready = append(a.ready, b.Ready)
	}
	if a.cfg.SlackEnabled() {
		b, err := slack.New(slack.Config{
			BotToken: a.cfg.SlackBotToken, AppToken: a.cfg.SlackAppToken, SigningSecret: a.cfg.SlackSigningSecret,
			APIURL: a.cfg.SlackAPIURL, Vendors: vendors, Log: a.log.With("platform", "slack"),
		}, a.manager)
		if err != nil {
			return err
		}
		a.manager.Register(slack.Platform, b)
		a.frontEnds = append(a.frontEnds, b)
		a.ready = append(a.ready, b.Ready)
		if a.cfg.SlackAppToken == "" {
			a.handler.Handle("/slack/", b.Handler())
		}
	}
	return nil
}
