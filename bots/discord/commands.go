package discord

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/bwmarrin/discordgo"
)

// Command names.
const (
	imagineCommand = "imagine"
	// editCommand is the message context-menu command (Apps → Edit image).
	editCommand = "Edit image"
)

// Permission bits the bot needs in a channel (topics/permissions.mdx).
const (
	permViewChannel        int64 = 1 << 10 // see the channels it is invited to
	permSendMessages       int64 = 1 << 11 // replies to mentions, results after 15 minutes
	permEmbedLinks         int64 = 1 << 14 // links in results render
	permAttachFiles        int64 = 1 << 15 // results are uploaded as files
	permReadMessageHistory int64 = 1 << 16 // replies reference a message; scan for a result already posted
	permSendInThreads      int64 = 1 << 38 // the same in threads

	// Permissions is the permission integer of the invite link:
	// 274878024704.
	Permissions = permViewChannel | permSendMessages | permEmbedLinks | permAttachFiles |
		permReadMessageHistory | permSendInThreads
)

// InviteURL is the link that adds the bot to a server with the scopes bot
// and applications.commands and exactly Permissions.
func InviteURL(appID string) string {
	return "https://discord.com/oauth2/authorize?client_id=" + appID +
		"&scope=bot+applications.commands&permissions=" + strconv.FormatInt(Permissions, 10)
}

// aspectChoices are the common ratios offered by /imagine.
var aspectChoices = []struct{ name, value string }{
	{"1:1 square", "1:1"}, {"16:9 landscape", "16:9"}, {"9:16 portrait", "9:16"},
	{"4:3", "4:3"}, {"3:4", "3:4"}, {"3:2", "3:2"}, {"2:3", "2:3"},
	{"21:9 wide", "21:9"}, {"9:21 tall", "9:21"},
}

// commands returns the bot's commands: /imagine and the "Edit image"
// message command. Global commands also say where they may be used (guilds
// and DMs with the bot); guild commands must not.
func (b *Bot) commands(global bool) []*discordgo.ApplicationCommand {
	str := func(name, desc string, choices ...*discordgo.ApplicationCommandOptionChoice) *discordgo.ApplicationCommandOption {
		return &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionString, Name: name, Description: desc, Choices: choices}
	}
	choice := func(name, value string) *discordgo.ApplicationCommandOptionChoice {
		return &discordgo.ApplicationCommandOptionChoice{Name: name, Value: value}
	}
	var aspects []*discordgo.ApplicationCommandOptionChoice
	for _, a := range aspectChoices {
		aspects = append(aspects, choice(a.name, a.value))
	}
	minSeed := 0.0
	opts := []*discordgo.ApplicationCommandOption{
		{Type: discordgo.ApplicationCommandOptionString, Name: "prompt", Description: "What to create, or what to change in the image (inline --ar 16:9 style flags work)", Required: true},
		{Type: discordgo.ApplicationCommandOptionAttachment, Name: "image", Description: "An image to edit"},
		str("aspect", "Aspect ratio (width:height)", aspects...),
		str("model", "Flux Kontext model", choice("Flux Kontext Pro", "pro"), choice("Flux Kontext Max", "max")),
		str("format", "Output format", choice("PNG", "png"), choice("JPEG", "jpeg")),
		{Type: discordgo.ApplicationCommandOptionInteger, Name: "seed", Description: "Seed, for a reproducible image", MinValue: &minSeed, MaxValue: 4294967295},
	}
	if len(b.cfg.Vendors) > 1 {
		var vs []*discordgo.ApplicationCommandOptionChoice
		for _, v := range b.cfg.Vendors {
			vs = append(vs, choice(b.vendorName(v), v))
		}
		opts = append(opts, str("vendor", "Image service", vs...))
	}
	imagine := &discordgo.ApplicationCommand{
		Type: discordgo.ChatApplicationCommand, Name: imagineCommand,
		Description: "Create or edit an image with Flux Kontext", Options: opts,
	}
	edit := &discordgo.ApplicationCommand{Type: discordgo.MessageApplicationCommand, Name: editCommand}
	if global {
		for _, c := range []*discordgo.ApplicationCommand{imagine, edit} {
			dm := true
			c.DMPermission = &dm
			c.Contexts = &[]discordgo.InteractionContextType{discordgo.InteractionContextGuild, discordgo.InteractionContextBotDM}
			c.IntegrationTypes = &[]discordgo.ApplicationIntegrationType{discordgo.ApplicationIntegrationGuildInstall}
		}
	}
	return []*discordgo.ApplicationCommand{imagine, edit}
}

// register bulk-overwrites the commands globally, or in each of
// Config.GuildIDs.
func (b *Bot) register(ctx context.Context, appID string) error {
	if appID == "" {
		return errors.New("discord: READY carried no application id")
	}
	if len(b.cfg.GuildIDs) == 0 {
		if _, err := b.s.ApplicationCommandBulkOverwrite(appID, "", b.commands(true), discordgo.WithContext(ctx)); err != nil {
			return fmt.Errorf("discord: registering global commands: %w", redact(err))
		}
		b.log.InfoContext(ctx, "registered commands globally (they may take a while to appear; set DISCORD_GUILD_IDS for instant per-guild registration)")
		return nil
	}
	var errs []error
	for _, g := range b.cfg.GuildIDs {
		if _, err := b.s.ApplicationCommandBulkOverwrite(appID, g, b.commands(false), discordgo.WithContext(ctx)); err != nil {
			errs = append(errs, fmt.Errorf("discord: registering commands in guild %s: %w", g, redact(err)))
			continue
		}
		b.log.InfoContext(ctx, "registered commands in guild", "guild", g)
	}
	return errors.Join(errs...)
}

func (b *Bot) vendorName(v string) string {
	if n := b.cfg.VendorNames[v]; n != "" {
		return n
	}
	return v
}
