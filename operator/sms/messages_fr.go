package sms

var messagesFR = map[string]string{
	"a_service":   "un service",
	"sms_approve": "%[1]s vous demande d'approuver, selon ses termes : %[2]s",
	"sms_code":    "Votre code pour vous connecter à %[1]s : %[2]s",
	"sms_or_tap":  "Ou appuyez : %s",
	"sms_tap":     "Appuyez pour vous connecter à %[1]s : %[2]s",
	"sms_valid":   "Valable %d min. Ne le partagez jamais.",

	"continue":       "Continuer",
	"otp_title":      "Saisissez votre code",
	"otp_lead":       "Pour vous connecter à %[1]s, saisissez le code à %[2]d chiffres envoyé par SMS au %[3]s.",
	"otp_lead_any":   "Saisissez le code à %d chiffres envoyé par SMS à votre téléphone.",
	"otp_link":       "Ou appuyez sur le lien de ce SMS sur votre téléphone : cette page avancera d’elle-même.",
	"otp_label":      "Code reçu par SMS",
	"otp_wrong_one":  "Ce code est erroné. Il vous reste 1 essai.",
	"otp_wrong_many": "Ce code est erroné. Il vous reste %d essais.",
	"otp_valid":      "Le code est valable %d minutes. Ne le partagez jamais.",

	"bad_title":          "Cette page ne peut pas être utilisée",
	"bad_text":           "La demande de connexion n’est pas valide. Retournez à l’application ou au site et recommencez.",
	"link_ok_title":      "Vous êtes connecté",
	"link_ok_text":       "Vous êtes connecté à %s. Retournez à la page où vous avez commencé : elle avancera d’elle-même.",
	"link_unknown_title": "Lien inconnu",
	"link_unknown_text":  "Ce lien de connexion n’est pas valide.",
	"link_expired_title": "Lien expiré",
	"link_expired_text":  "Ce lien de connexion a expiré. Recommencez dans l’application ou sur le site.",
	"link_used_title":    "Lien déjà utilisé",
	"link_used_text":     "Ce lien de connexion a déjà été utilisé. Recommencez dans l’application ou sur le site si nécessaire.",
	"link_locked_title":  "Connexion arrêtée",
	"link_locked_text":   "Cette connexion a été arrêtée après trop de codes erronés. Recommencez dans l’application ou sur le site.",
}
