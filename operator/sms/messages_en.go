package sms

import "github.com/mcfed/mcfed/idgw"

// messages is the catalogue of the SMS and of this package's pages, one
// file per language. The SMS texts keep to characters of the GSM 7-bit
// alphabet where the language allows, so that one SMS holds them.
var messages = idgw.Catalogue{"en": messagesEN, "de": messagesDE, "fr": messagesFR}

var messagesEN = map[string]string{
	"a_service":   "a service",
	"sms_approve": "%[1]s asks you to approve, in its own words: %[2]s",
	"sms_code":    "Your code to sign in to %[1]s: %[2]s",
	"sms_or_tap":  "Or tap: %s",
	"sms_tap":     "Tap to sign in to %[1]s: %[2]s",
	"sms_valid":   "Valid %d min. Never share it.",

	"continue":       "Continue",
	"otp_title":      "Enter your code",
	"otp_lead":       "To sign in to %[1]s, enter the %[2]d‑digit code we sent by SMS to %[3]s.",
	"otp_lead_any":   "Enter the %d‑digit code we sent to your phone by SMS.",
	"otp_link":       "Or tap the link in that SMS on your phone: this page then moves on by itself.",
	"otp_label":      "Code from the SMS",
	"otp_wrong_one":  "That code was wrong. You have 1 attempt left.",
	"otp_wrong_many": "That code was wrong. You have %d attempts left.",
	"otp_valid":      "The code is valid for %d minutes. Never share it.",

	"bad_title":           "This page cannot be used",
	"bad_text":            "The sign-in request is not valid. Go back to the app or site and start again.",
	"link_ok_title":       "You are signed in",
	"link_ok_text":        "You are signed in to %s. Go back to the page where you started: it moves on by itself.",
	"link_unknown_title":  "Unknown link",
	"link_unknown_text":   "This sign-in link is not valid.",
	"link_expired_title":  "Link expired",
	"link_expired_text":   "This sign-in link has expired. Start again in the app or site.",
	"link_used_title":     "Link already used",
	"link_used_text":      "This sign-in link has already been used. Start again in the app or site if you need to.",
	"link_locked_title":   "Sign-in ended",
	"link_locked_text":    "This sign-in was stopped after too many wrong codes. Start again in the app or site.",
	"otp_link_match":      "Or tap the link in that SMS on your phone and pick this number there; this page then moves on by itself:",
	"link_title":          "Is this you?",
	"link_lead":           "%[1]s: someone is signing in to %[2]s with your number %[3]s.",
	"link_binding":        "%s asks you to approve, in its own words:",
	"link_pick":           "If it is you, pick the number shown on the screen where you are signing in.",
	"link_confirm":        "Yes, it is me: sign in",
	"link_deny":           "No, this was not me",
	"link_denied_title":   "Sign-in stopped",
	"link_denied_text":    "This sign-in was stopped. Nobody was signed in.",
	"link_mismatch_title": "Sign-in stopped",
	"link_mismatch_text":  "That was not the number shown where the sign-in started, so it was stopped. If it was you, start again in the app or site.",
	"unavailable_title":   "Try again in a moment",
	"unavailable_text":    "Your answer could not be recorded. Open the link again in a moment.",
}
