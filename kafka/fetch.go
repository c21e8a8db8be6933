package kafka

import (
	"github.com/IBM/sarama"
)

// What a route holds besides its buffer is sarama's prefetch: per broker,
// one fetch response being read and handed out (sarama sends the next
// fetch only once every partition's feeder has put all of its records
// into its channel), and per partition a channel of ChannelBufferSize
// records not yet taken. Records in the channels are not counted in the
// route's buffer until ConsumeClaim takes them, and every event points
// into the response it came in (sarama decodes without copying), so a
// response stays in memory while any of its events does. Before this was
// sized from the buffer, 64 partitions × 512 KiB made 32 MiB responses —
// as large as a 32 MiB buffer — and 64 channels of 500 records of 4 KiB
// could hold 128 MiB more: TestBoundedMemory/64_partitions peaked at
// 125–153 MiB against a 128 MiB target.
const (
	// prefetchShare: one round of fetches over all the route's
	// partitions (partitions × Consumer.Fetch.Default) is at most a
	// quarter of buffer.max_bytes, and so is one response (the request's
	// Consumer.Fetch.MaxBytes). 32 MiB over 64 partitions: 128 KiB each.
	prefetchShare = 4
	// minPartitionFetch is the floor of a partition's fetch: below it the
	// fetches are mostly request overhead. 1000 partitions then prefetch
	// 32 MiB; the request-level limit still caps each response.
	minPartitionFetch = 32 << 10
	// minRequestFetch is the floor of the request-level limit.
	minRequestFetch = 1 << 20
	// channelFetchRecord sizes the channels to the fetches: a partition's
	// channel holds one partition fetch of 2 KiB records (256 at 512 KiB;
	// a third of a fetch of the bench's 736-byte events), so that sarama's
	// feeder hands a response over in a few bursts and the next fetch goes
	// out while the reader is still decoding. With channels of half a
	// fetch of 4 KiB records (64 at 512 KiB) the feeder went at the
	// reader's pace and the next fetch waited for it: the bench's null
	// sink row, which checks every event's JSON, went from 0.53-0.59 of
	// the bare consumer to 0.60-0.67 (six alternating pairs).
	channelFetchRecord = 2 << 10
	// channelBoundRecord and channelShare bound the channels' memory
	// where the fetches alone would not: all channels together, full of
	// 4 KiB records (the events of TestBoundedMemory, larger than most
	// SIEM events), hold at most an eighth of buffer.max_bytes, half of
	// one round of fetches.
	channelBoundRecord = 4 << 10
	channelShare       = 8
	// minChannel and maxChannel bound ChannelBufferSize. The reader
	// takes what is waiting in bursts (burstMax); a few records of
	// slack let sarama's feeder run ahead of it.
	minChannel = 4
	maxChannel = 256
)

// FetchPlan is what a route sets in its sarama configuration to keep
// sarama's prefetch within a slice of its buffer.
type FetchPlan struct {
	// partitionFetch is Consumer.Fetch.Default: the bytes asked for per
	// partition and request.
	partitionFetch int32
	// requestFetch is Consumer.Fetch.MaxBytes: the bytes one response
	// may carry across partitions (the broker still returns a first
	// record batch larger than it, KIP-74).
	requestFetch int32
	// channel is ChannelBufferSize: records a partition holds before
	// ConsumeClaim takes (and counts) them.
	channel int
}

// PlanFetch sizes the prefetch of a route whose buffer is bufferBytes
// and which will claim at most partitions partitions (every partition of
// its topics: a member of a larger group claims fewer, and then fetches
// less than it could). partitionMax and requestMax are the configured
// ceilings (kafka.max_partition_fetch_bytes, kafka.fetch_max_bytes). A
// partition count below 1 counts as 1.
//
// The numbers, for buffer.max_bytes 32 MiB (a quarter is 8 MiB), the
// default ceilings (512 KiB per partition, 8 MiB per request) and 4 KiB
// records:
//
//	partitions  fetch    channel  one round of fetches  channels full
//	4           512 KiB  256      2 MiB                 4 MiB
//	16          512 KiB  64       8 MiB                 4 MiB
//	64          128 KiB  16       8 MiB                 4 MiB
//	1024        32 KiB   4        8 MiB (request limit)  16 MiB (channel floor)
//
// Channels fill only from fetched responses; the last column is an upper
// bound reached when no partition's reader takes anything.
func PlanFetch(bufferBytes int64, partitions int, partitionMax, requestMax int32) FetchPlan {
	partitions = max(partitions, 1)
	share := bufferBytes / prefetchShare
	pf := clamp(share/int64(partitions), minPartitionFetch, int64(partitionMax))
	rf := clamp(share, minRequestFetch, int64(requestMax))
	ch := clamp(min(pf/channelFetchRecord, bufferBytes/channelShare/int64(partitions)/channelBoundRecord), minChannel, maxChannel)
	return FetchPlan{partitionFetch: int32(pf), requestFetch: int32(rf), channel: int(ch)}
}

// clamp returns v within [lo, hi]; hi wins when lo > hi, so a configured
// ceiling below the floor is honoured.
func clamp(v, lo, hi int64) int64 {
	return min(max(v, lo), hi)
}

// Ahead is what the Kafka client may still hand out after the route
// pauses its partitions: the response being handed out, at most the
// request-level limit (sarama does not take back what it fetched).
func (p FetchPlan) Ahead() int64 { return int64(p.requestFetch) }

// Apply sets the plan in sc. Consumer.Fetch.Max stays as SaramaConfig set
// it (0: a record larger than the fetch is fetched whole).
func (p FetchPlan) Apply(sc *sarama.Config) {
	sc.Consumer.Fetch.Default = p.partitionFetch
	sc.Consumer.Fetch.MaxBytes = p.requestFetch
	sc.ChannelBufferSize = p.channel
}

// TopicPartitions counts the partitions of topics as client knows them;
// a topic it cannot look up (not created yet) counts as one partition.
func TopicPartitions(client sarama.Client, topics []string) int {
	n := 0
	for _, t := range topics {
		ps, err := client.Partitions(t)
		if err != nil || len(ps) == 0 {
			n++
			continue
		}
		n += len(ps)
	}
	return n
}
