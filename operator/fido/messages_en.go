package fido

import "github.com/mcfed/mcfed/idgw"

// messages is the catalogue of this package's pages, one file per
// language.
var messages = idgw.Catalogue{"en": messagesEN, "de": messagesDE, "fr": messagesFR}

var messagesEN = map[string]string{
	"login_title":     "Sign in with your passkey",
	"phone_lead":      "To sign in to %[1]s, we sent a request to your phone %[2]s. Check that it names %[1]s, then confirm there with your fingerprint.",
	"phone_waiting":   "Waiting for your phone…",
	"phone_here":      "Use a passkey on this device instead",
	"phone_continue":  "I confirmed on my phone",
	"login_lead":      "To sign in to %[1]s with your number %[2]s, use the passkey on your device: your fingerprint, face or screen lock.",
	"login_lead_any":  "Use the passkey on your device to sign in: your fingerprint, face or screen lock.",
	"login_working":   "Follow what your device asks.",
	"login_cancelled": "The passkey was not used (cancelled, or it took too long). Try again, or use another way.",
	"login_refused":   "That passkey was not accepted. Try again with the passkey of this number, or use another way.",
	"login_ok":        "Passkey accepted. Continuing…",
	"login_button":    "Use my passkey",
	"login_other":     "Use another way",
	"unsupported":     "This browser cannot use passkeys. Use another way, or another browser.",
	"noscript":        "Passkeys need JavaScript. Turn it on, or use another way.",

	"keys_title":    "Your passkeys",
	"keys_lead":     "Passkeys let you sign in with your number %s using your device's fingerprint, face or screen lock.",
	"keys_none":     "You have no passkey yet.",
	"key_name":      "Passkey added on %s",
	"key_used":      "Last used %s",
	"key_unused":    "Not used yet",
	"key_remove":    "Remove",
	"add_button":    "Add a passkey",
	"add_working":   "Follow what your device asks.",
	"add_cancelled": "No passkey was added (cancelled, or it took too long).",
	"add_refused":   "That passkey could not be added. It may be registered already; try another device.",
	"done":          "Done",
	"flash_added":   "Your passkey was added.",
	"flash_removed": "The passkey was removed.",

	"msg_bad_title":     "This page cannot be used",
	"msg_bad_text":      "The sign-in request is not valid. Go back to the app or site and start again.",
	"msg_expired_title": "Sign-in expired",
	"msg_expired_text":  "This passkey sign-in has expired. Go back to the app or site and start again.",
	"msg_ticket_title":  "Link expired",
	"msg_ticket_text":   "This link to your passkeys was used already or has expired. Sign in again to manage your passkeys.",
	"msg_session_title": "Session expired",
	"msg_session_text":  "Your session for managing passkeys has ended. Sign in again to manage them.",
}
