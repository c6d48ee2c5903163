package idgw

import (
	"fmt"
	"strings"

	"golang.org/x/text/language"
)

// The languages of the gateway's pages and of the authenticators'
// messages: those of the demo operators' countries, English first (the
// default).
var (
	languageTags    = []language.Tag{language.English, language.German, language.French}
	languageNames   = []string{"en", "de", "fr"}
	languageMatcher = language.NewMatcher(languageTags)
)

// DefaultLanguage is the language of a person who asks for none the
// gateway speaks.
const DefaultLanguage = "en"

// ChooseLanguage picks the pages' language: the first of ui_locales (the
// SP's choice, OpenID Connect Core §3.1.2.1) the gateway speaks, else the
// best of the browser's Accept-Language, else English. Regional variants
// match their language (de-CH is German).
func ChooseLanguage(uiLocales, acceptLanguage string) string {
	for _, l := range strings.Fields(uiLocales) {
		if t, err := language.Parse(l); err == nil {
			if _, i, conf := languageMatcher.Match(t); conf != language.No {
				return languageNames[i]
			}
		}
	}
	if tags, _, err := language.ParseAcceptLanguage(acceptLanguage); err == nil && len(tags) > 0 {
		if _, i, conf := languageMatcher.Match(tags...); conf != language.No {
			return languageNames[i]
		}
	}
	return DefaultLanguage
}

// Catalogue is a set of pages' texts, by language ("en", "de", "fr") then
// key. A text may hold fmt verbs, filled by Texts.S.
type Catalogue map[string]map[string]string

// In is the catalogue's texts in lang, falling back to English for a
// language or key it lacks.
func (c Catalogue) In(lang string) Texts {
	if _, ok := c[lang]; !ok {
		lang = DefaultLanguage
	}
	return Texts{Lang: lang, c: c}
}

// Texts are a catalogue's texts in one language; templates call S.
type Texts struct {
	Lang string
	c    Catalogue
}

// S is the text of key, its verbs filled with args.
func (t Texts) S(key string, args ...any) string {
	s, ok := t.c[t.Lang][key]
	if !ok {
		if s, ok = t.c[DefaultLanguage][key]; !ok {
			return key
		}
	}
	if len(args) == 0 {
		return s
	}
	return fmt.Sprintf(s, args...)
}

// Missing lists, per language, the keys English has and it lacks: a
// test keeps every catalogue complete.
func (c Catalogue) Missing() []string {
	var out []string
	for _, lang := range languageNames {
		for k := range c[DefaultLanguage] {
			if _, ok := c[lang][k]; !ok {
				out = append(out, lang+": "+k)
			}
		}
	}
	return out
}
