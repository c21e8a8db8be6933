package clock

import (
	"testing"
	"time"
)

func TestSystem(t *testing.T) {
	var c Clock = System{}
	before := time.Now()
	if now := c.Now(); now.Before(before) {
		t.Errorf("Now %v is before %v", now, before)
	}
	ch, _ := c.NewTimer(time.Millisecond)
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("a 1ms timer did not fire")
	}
	ch, stop := c.NewTimer(time.Hour)
	if !stop() {
		t.Error("stop of a pending timer returned false")
	}
	select {
	case <-ch:
		t.Error("a stopped timer fired")
	default:
	}
}
