package kafka

import (
	"testing"

	"github.com/siembridge/siembridge/config"
)

func TestPlanFetch(t *testing.T) {
	const (
		KiB = 1 << 10
		MiB = 1 << 20
	)
	for _, tc := range []struct {
		name                   string
		buffer                 int64
		partitions             int
		partitionMax, reqMax   int32
		wantFetch, wantRequest int32
		wantChannel            int
	}{
		{"few partitions keep the ceiling", 32 * MiB, 4, 512 * KiB, 8 * MiB, 512 * KiB, 8 * MiB, 256},
		{"16 partitions", 32 * MiB, 16, 512 * KiB, 8 * MiB, 512 * KiB, 8 * MiB, 64},
		{"64 partitions share a quarter", 32 * MiB, 64, 512 * KiB, 8 * MiB, 128 * KiB, 8 * MiB, 16},
		{"1024 partitions at the floor", 32 * MiB, 1024, 512 * KiB, 8 * MiB, 32 * KiB, 8 * MiB, 4},
		{"small buffer lowers the request", 8 * MiB, 4, 512 * KiB, 8 * MiB, 512 * KiB, 2 * MiB, 64},
		{"request floor", 1 * MiB, 4, 512 * KiB, 8 * MiB, 64 * KiB, 1 * MiB, 8},
		{"configured ceilings below the floors win", 64 * MiB, 1, 16 * KiB, 512 * KiB, 16 * KiB, 512 * KiB, 8},
		{"unknown partitions count as one", 64 * MiB, 0, 512 * KiB, 8 * MiB, 512 * KiB, 8 * MiB, 256},
		{"the default buffer, 6 partitions", 64 * MiB, 6, 512 * KiB, 8 * MiB, 512 * KiB, 8 * MiB, 256},
		{"the default buffer, 16 partitions", 64 * MiB, 16, 512 * KiB, 8 * MiB, 512 * KiB, 8 * MiB, 128},
		{"the default buffer, 64 partitions", 64 * MiB, 64, 512 * KiB, 8 * MiB, 256 * KiB, 8 * MiB, 32},
		{"large buffer, large ceiling", 1 << 30, 8, 4 * MiB, 64 * MiB, 4 * MiB, 64 * MiB, 256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := PlanFetch(tc.buffer, tc.partitions, tc.partitionMax, tc.reqMax)
			if p.partitionFetch != tc.wantFetch || p.requestFetch != tc.wantRequest || p.channel != tc.wantChannel {
				t.Fatalf("planFetch = fetch %d, request %d, channel %d; want %d, %d, %d",
					p.partitionFetch, p.requestFetch, p.channel, tc.wantFetch, tc.wantRequest, tc.wantChannel)
			}
			// Channels full of 4 KiB records hold an eighth of the
			// buffer at most, unless the channel floor holds them up.
			if full := int64(max(tc.partitions, 1)) * int64(p.channel) * channelBoundRecord; full > tc.buffer/channelShare && p.channel > minChannel {
				t.Errorf("channels full of 4 KiB records hold %d bytes, over an eighth of the buffer %d", full, tc.buffer)
			}
			// The prefetch of one round of fetches stays within a
			// quarter of the buffer unless a floor holds it up.
			if round := int64(max(tc.partitions, 1)) * int64(p.partitionFetch); round > tc.buffer/prefetchShare && p.partitionFetch > minPartitionFetch && p.partitionFetch < tc.partitionMax {
				t.Errorf("one round of fetches is %d bytes, over a quarter of the buffer %d", round, tc.buffer)
			}
		})
	}
}

// TestSaramaConfigFetch: each kafka fetch setting lands in the sarama field
// of the same meaning, and Fetch.Max never caps a partition's fetch (at the
// cap sarama skips a record).
func TestSaramaConfigFetch(t *testing.T) {
	for _, tc := range []struct {
		name                      string
		fetchMax, partitionMax    config.ByteSize
		wantMaxBytes, wantDefault int32
	}{
		{"defaults", config.DefaultFetchMaxBytes, config.DefaultMaxPartitionFetch, 8 << 20, 512 << 10},
		{"both set", 16 * config.MiB, config.MiB, 16 << 20, 1 << 20},
		{"partition above request", config.MiB, 4 * config.MiB, 1 << 20, 4 << 20},
		{"zero keeps sarama's defaults", 0, 0, 50 << 20, 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc, err := SaramaConfig(config.Kafka{ClientID: "t", FetchMaxBytes: tc.fetchMax, MaxPartitionFetchBytes: tc.partitionMax})
			if err != nil {
				t.Fatal(err)
			}
			f := sc.Consumer.Fetch
			if f.MaxBytes != tc.wantMaxBytes || f.Default != tc.wantDefault || f.Max != 0 {
				t.Fatalf("Fetch = {MaxBytes %d, Default %d, Max %d}, want {%d, %d, 0}", f.MaxBytes, f.Default, f.Max, tc.wantMaxBytes, tc.wantDefault)
			}
		})
	}
}
