package smpp

import (
	"fmt"
	"sync/atomic"
	"unicode/utf16"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
)

// Limits of one SMS (3GPP TS 23.038/23.040): 160 GSM 7-bit septets or 70
// UCS2 characters; with the 6-octet concatenation header 153 or 67.
const (
	gsm7Single = 160
	gsm7Part   = 153
	ucs2Single = 70
	ucs2Part   = 67
)

var concatRef atomic.Uint32

// Coding is the alphabet a text is sent in.
type Coding string

const (
	CodingGSM7 Coding = "GSM7" // GSM 03.38 default alphabet, data_coding 0
	CodingUCS2 Coding = "UCS2" // UTF-16BE, data_coding 8
)

// Plan says how a text will be sent: its alphabet and number of parts.
func Plan(text string) (Coding, int) {
	c, segs := split(text)
	return c, len(segs)
}

// split picks the alphabet and cuts the text into the parts of one message.
func split(text string) (Coding, []string) {
	if len(data.ValidateGSM7String(text)) == 0 {
		return CodingGSM7, splitGSM7(text)
	}
	return CodingUCS2, splitUCS2(text)
}

func septets(r rune) int {
	if data.IsEscapeChar(r) {
		return 2
	}
	return 1
}

func splitGSM7(text string) []string {
	n := 0
	for _, r := range text {
		n += septets(r)
	}
	if n <= gsm7Single {
		return []string{text}
	}
	var segs []string
	start, cur := 0, 0
	for i, r := range text {
		w := septets(r)
		if cur+w > gsm7Part { // never split an escape sequence
			segs = append(segs, text[start:i])
			start, cur = i, 0
		}
		cur += w
	}
	return append(segs, text[start:])
}

func splitUCS2(text string) []string {
	units := 0
	for _, r := range text {
		units += utf16.RuneLen(r)
	}
	if units <= ucs2Single {
		return []string{text}
	}
	var segs []string
	start, cur := 0, 0
	for i, r := range text {
		w := utf16.RuneLen(r) // never split a surrogate pair
		if cur+w > ucs2Part {
			segs = append(segs, text[start:i])
			start, cur = i, 0
		}
		cur += w
	}
	return append(segs, text[start:])
}

// encodeParts turns text into the short messages of one SMS (with a
// concatenation UDH when there are several).
func encodeParts(text string, maxParts int) ([]pdu.ShortMessage, error) {
	if text == "" {
		return nil, fmt.Errorf("smpp: empty text")
	}
	coding, segs := split(text)
	if len(segs) > maxParts {
		return nil, fmt.Errorf("%w: %d %s parts needed, at most %d allowed", ErrTooLong, len(segs), coding, maxParts)
	}
	enc := data.GSM7BIT
	if coding == CodingUCS2 {
		enc = data.UCS2
	}
	ref := byte(concatRef.Add(1))
	out := make([]pdu.ShortMessage, len(segs))
	for i, s := range segs {
		b, err := enc.Encode(s)
		if err != nil {
			return nil, fmt.Errorf("smpp: encode %s: %w", coding, err)
		}
		sm, err := pdu.NewBinaryShortMessageWithEncoding(b, enc)
		if err != nil {
			return nil, fmt.Errorf("smpp: encode %s: %w", coding, err)
		}
		if len(segs) > 1 {
			sm.SetUDH(pdu.UDH{pdu.NewIEConcatMessage(byte(len(segs)), byte(i+1), ref)})
		}
		out[i] = sm
	}
	return out, nil
}
