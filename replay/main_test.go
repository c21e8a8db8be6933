package replay

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test must leave no goroutine behind, except go-metrics' meter
// ticker: sarama's first meter starts it, once per process, and it runs
// until the process exits by that library's design.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"))
}
