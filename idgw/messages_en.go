package idgw

// messages is the catalogue of the gateway's own pages (waiting, consent,
// ended, error), one file per language.
var messages = Catalogue{"en": messagesEN, "de": messagesDE, "fr": messagesFR}

var messagesEN = map[string]string{
	"continue": "Continue",
	"back_to":  "Back to %s",

	"wait_title":    "Check your phone",
	"wait_text":     "To sign in to %[1]s, answer the message we sent to your phone %[2]s.",
	"wait_auto":     "This page moves on by itself once you have answered.",
	"wait_match":    "On your phone, tap the link in the SMS and pick this number:",
	"wait_noscript": "Answered on your phone? Press Continue.",

	"consent_title": "Share your details with %s?",
	"consent_intro": "%[1]s asks %[2]s for:",
	"consent_note":  "If you deny, %s receives none of these details.",
	"consent_allow": "Allow",
	"consent_deny":  "Deny",

	"claim_name":        "Your name",
	"claim_birthdate":   "Your date of birth",
	"claim_email":       "Your email address",
	"claim_phone":       "Your phone number",
	"claim_address":     "Your postal address",
	"claim_title":       "Your title (Mr, Ms, Dr…)",
	"claim_national_id": "Your national identity number",
	"claim_kyc":         "Whether the details %s holds about you are correct (yes or no for each)",
	"claim_sim":         "When your SIM card was last changed and your number last moved to another operator",
	"claim_other":       "Access named “%s”",

	"ended_locked_title":  "Too many wrong codes",
	"ended_locked_text":   "A wrong code was entered too many times, so this sign-in was stopped to protect your number. Go back to %s and sign in again: you will get a new code.",
	"ended_expired_title": "This sign-in has expired",
	"ended_expired_text":  "The code or link is valid for a few minutes only. Go back to %s and sign in again.",
	"ended_used_title":    "Already used",
	"ended_used_text":     "This code or link has already been used. Go back to %s and sign in again if you need to.",
	"ended_refused_title": "Sign-in refused",
	"ended_refused_text":  "The sign-in was refused on your phone. Go back to %s; nothing was shared.",
	"ended_other_title":   "Sign-in not completed",
	"ended_other_text":    "This sign-in could not be completed. Go back to %s and try again.",
	"ended_limit_title":   "Too many codes sent",
	"ended_limit_text":    "To protect %[1]s from unwanted messages, %[2]s sends at most %[3]d sign-in messages in %[4]d minutes, and that many were sent.",
	"ended_limit_retry":   "You can try again in %d minutes. Go back to %s meanwhile.",
	"ended_down_title":    "Sign-in unavailable",
	"ended_down_text":     "%[1]s cannot send you a sign-in message right now. Go back to %[2]s and try again in a few minutes.",

	"error_title":  "This sign-in request cannot be completed",
	"error_what":   "Go back to the app or site you came from and try again.",
	"error_detail": "Details for the service's developers",
	"error_code":   "Error",
	"error_ref":    "Reference",
}
