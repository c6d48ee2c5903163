package federation

import (
	"testing"
	"time"

	"github.com/mcfed/mcfed/idgw"
)

func TestSendBudgetsFlag(t *testing.T) {
	var b idgw.SendBudgets
	f := SendBudgetsFlag(&b)
	if err := f.Set("sp=5, window=10m"); err != nil {
		t.Fatal(err)
	}
	want := idgw.DefaultSendBudgets
	want.PerSP, want.Window = 5, 10*time.Minute
	if b != want {
		t.Fatalf("sp=5,window=10m: %+v, want %+v", b, want)
	}
	if err := f.Set("source=0"); err != nil || b.PerSource != 0 || b.PerSP != idgw.DefaultSendBudgets.PerSP {
		t.Fatalf("source=0: %+v %v", b, err)
	}
	for _, bad := range []string{"sp", "sp=-1", "sms=3", "window=0", "window=soon", "operator=x"} {
		if err := f.Set(bad); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
	var again idgw.SendBudgets
	if err := SendBudgetsFlag(&again).Set(f.String()); err != nil || again != b {
		t.Fatalf("String does not round-trip: %q gives %+v (%v), want %+v", f.String(), again, err, b)
	}
}
