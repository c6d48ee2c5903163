package sms

var messagesDE = map[string]string{
	"a_service":   "einen Dienst",
	"sms_approve": "%[1]s bittet Sie um Zustimmung, in eigenen Worten: %[2]s",
	"sms_code":    "Ihr Code zur Anmeldung bei %[1]s: %[2]s",
	"sms_or_tap":  "Oder tippen Sie: %s",
	"sms_tap":     "Tippen Sie, um sich bei %[1]s anzumelden: %[2]s",
	"sms_valid":   "%d Min. gültig. Niemals weitergeben.",

	"continue":       "Weiter",
	"otp_title":      "Code eingeben",
	"otp_lead":       "Um sich bei %[1]s anzumelden, geben Sie den %[2]d-stelligen Code ein, den wir per SMS an %[3]s gesendet haben.",
	"otp_lead_any":   "Geben Sie den %d-stelligen Code ein, den wir per SMS an Ihr Telefon gesendet haben.",
	"otp_link":       "Oder tippen Sie auf Ihrem Telefon auf den Link in dieser SMS: Diese Seite geht dann von selbst weiter.",
	"otp_label":      "Code aus der SMS",
	"otp_wrong_one":  "Dieser Code war falsch. Sie haben noch 1 Versuch.",
	"otp_wrong_many": "Dieser Code war falsch. Sie haben noch %d Versuche.",
	"otp_valid":      "Der Code ist %d Minuten gültig. Geben Sie ihn niemals weiter.",

	"bad_title":          "Diese Seite kann nicht verwendet werden",
	"bad_text":           "Die Anmeldeanfrage ist ungültig. Gehen Sie zurück zur App oder Website und beginnen Sie erneut.",
	"link_ok_title":      "Sie sind angemeldet",
	"link_ok_text":       "Sie sind bei %s angemeldet. Gehen Sie zurück zur Seite, auf der Sie begonnen haben: Sie geht von selbst weiter.",
	"link_unknown_title": "Unbekannter Link",
	"link_unknown_text":  "Dieser Anmeldelink ist ungültig.",
	"link_expired_title": "Link abgelaufen",
	"link_expired_text":  "Dieser Anmeldelink ist abgelaufen. Beginnen Sie erneut in der App oder auf der Website.",
	"link_used_title":    "Link bereits verwendet",
	"link_used_text":     "Dieser Anmeldelink wurde bereits verwendet. Beginnen Sie bei Bedarf erneut in der App oder auf der Website.",
	"link_locked_title":  "Anmeldung beendet",
	"link_locked_text":   "Diese Anmeldung wurde nach zu vielen falschen Codes beendet. Beginnen Sie erneut in der App oder auf der Website.",
}
