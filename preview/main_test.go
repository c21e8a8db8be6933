package preview

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test must leave no goroutine behind, except go-metrics' meter
// ticker, which sarama starts once per process.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"))
}
