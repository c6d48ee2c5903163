package federation

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/mcfed/mcfed/idgw"
)

// SendBudgetsFlag is the --send-budgets flag: the gateway's abuse budgets
// for logins that reach a handset, as "sp=N,source=N,operator=N,window=D"
// (any subset: the others keep their defaults; 0 turns one off).
func SendBudgetsFlag(p *idgw.SendBudgets) flag.Value { return sendBudgetsFlag{p} }

type sendBudgetsFlag struct{ p *idgw.SendBudgets }

func (f sendBudgetsFlag) String() string {
	if f.p == nil {
		return ""
	}
	b := *f.p
	return fmt.Sprintf("sp=%d,source=%d,operator=%d,window=%s", b.PerSP, b.PerSource, b.PerOperator, formatDuration(b.Window))
}

func (f sendBudgetsFlag) Set(s string) error {
	b := idgw.DefaultSendBudgets
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return fmt.Errorf("%q: want name=value (sp, source, operator, window)", part)
		}
		if k == "window" {
			d, err := ParseDuration(v)
			if err != nil || d <= 0 {
				return fmt.Errorf("window %q: want a positive duration such as 1h", v)
			}
			b.Window = d
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("%s %q: want a count, 0 for no budget", k, v)
		}
		switch k {
		case "sp":
			b.PerSP = n
		case "source":
			b.PerSource = n
		case "operator":
			b.PerOperator = n
		default:
			return errors.New("unknown budget " + strconv.Quote(k) + ": want sp, source, operator or window")
		}
	}
	*f.p = b
	return nil
}
