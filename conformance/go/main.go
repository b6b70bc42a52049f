// The client conformance scenario with franz-go (kgo with its defaults: idempotent producer, fetch
// sessions, OffsetForLeaderEpoch validation, cooperative-sticky balancer; kadm for admin).
//
// Usage: conformance <bootstrap> <name prefix> [classic|consumer]
//
// Each step asserts what it saw and prints one line saying so; any failure prints "FAIL: ..."
// and exits 1. The last line is "OK" when every step passed.
package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const partitions = 3

var (
	bootstrap string
	prefix    string
	protocol  = "classic"
	ctx       context.Context
)

func main() {
	if len(os.Args) < 3 {
		fail("usage: conformance <bootstrap> <name prefix> [classic|consumer]")
	}
	bootstrap, prefix = os.Args[1], os.Args[2]
	if len(os.Args) > 3 {
		protocol = os.Args[3]
	}
	var cancel context.CancelFunc
	ctx, cancel = context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	topic := prefix + "-events"
	txnTopic := prefix + "-txn"
	outTopic := prefix + "-out"
	group := prefix + "-group"
	eosGroup := prefix + "-eos-group"

	admin := newClient()
	adm := kadm.NewClient(admin)
	defer admin.Close()

	step("create topics", func() {
		for _, t := range []string{topic, txnTopic, outTopic} {
			created, err := adm.CreateTopic(ctx, partitions, 1, nil, t)
			check(err, "CreateTopic %s", t)
			check(created.Err, "CreateTopic %s", t)
		}
		fmt.Printf("created %s, %s and %s with %d partitions\n", topic, txnTopic, outTopic, partitions)
	})

	step("produce keyed records with headers", func() {
		produce(topic, "first", 9)
	})

	step("consume with a group and commit", func() {
		cl := newClient(groupOpts(group, topic)...)
		got := consume(cl, 9)
		expectValues(got, values("first", 9))
		for _, r := range got {
			want := "k" + strings.TrimPrefix(string(r.Value), "first-")
			if string(r.Key) != want {
				fail("record %s has key %q, want %q", r.Value, r.Key, want)
			}
			if len(r.Headers) != 2 || r.Headers[0].Key != "source" || string(r.Headers[0].Value) != "franz-go" ||
				r.Headers[1].Key != "seq" || string(r.Headers[1].Value) != strings.TrimPrefix(string(r.Value), "first-") {
				fail("record %s has headers %v", r.Value, r.Headers)
			}
		}
		check(cl.CommitUncommittedOffsets(ctx), "CommitUncommittedOffsets")
		fmt.Printf("read %d records with their keys and headers, committed\n", len(got))
		describeLive(adm, group)
		cl.Close() // leaves the group
	})

	step("committed offsets", func() {
		offsets, err := adm.FetchOffsets(ctx, group)
		check(err, "FetchOffsets")
		check(offsets.Error(), "FetchOffsets")
		var sum int64
		offsets.Each(func(o kadm.OffsetResponse) { sum += o.At })
		if sum != 9 {
			fail("committed offsets sum to %d, want 9: %v", sum, offsets)
		}
		fmt.Printf("the group's committed offsets sum to %d\n", sum)
	})

	step("a new consumer in the same group resumes from the commit", func() {
		produce(topic, "second", 6)
		cl := newClient(groupOpts(group, topic)...)
		got := consume(cl, 6)
		expectValues(got, values("second", 6))
		check(cl.CommitUncommittedOffsets(ctx), "CommitUncommittedOffsets")
		cl.Close()
		fmt.Printf("resumed: read only the %d records produced after the commit\n", len(got))
	})

	step("a committed and an aborted transaction, read with read_committed", func() {
		txn := newClient(kgo.TransactionalID(prefix+"-txn-id"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		defer txn.Close()
		// One record per partition in each transaction, so the last committed one on every
		// partition comes after the aborted one.
		for _, tx := range []struct {
			name   string
			commit kgo.TransactionEndTry
		}{{"committed-a", kgo.TryCommit}, {"aborted", kgo.TryAbort}, {"committed-b", kgo.TryCommit}} {
			check(txn.BeginTransaction(), "BeginTransaction")
			for p := int32(0); p < partitions; p++ {
				r := &kgo.Record{Topic: txnTopic, Partition: p, Key: []byte(fmt.Sprint(p)), Value: []byte(fmt.Sprintf("%s-%d", tx.name, p))}
				check(txn.ProduceSync(ctx, r).FirstErr(), "transactional produce")
			}
			check(txn.EndTransaction(ctx, tx.commit), "EndTransaction %s", tx.name)
		}

		committed := newClient(kgo.ConsumeTopics(txnTopic), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
		got := consume(committed, 6)
		committed.Close()
		expectValues(got, append(values("committed-a", partitions), values("committed-b", partitions)...))
		for _, r := range got {
			if !r.Attrs.IsTransactional() {
				fail("record %s is not flagged transactional", r.Value)
			}
		}

		uncommitted := newClient(kgo.ConsumeTopics(txnTopic))
		all := consume(uncommitted, 9)
		uncommitted.Close()
		expectValues(all, append(append(values("committed-a", partitions), values("aborted", partitions)...), values("committed-b", partitions)...))
		fmt.Printf("read_committed saw %d committed records; read_uncommitted saw all %d\n", len(got), len(all))
	})

	step("consume-transform-produce in a transaction with the group's offsets", func() {
		opts := append(groupOpts(eosGroup, topic), kgo.TransactionalID(prefix+"-eos-id"), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
		sess, err := kgo.NewGroupTransactSession(append(baseOpts(), opts...)...)
		check(err, "NewGroupTransactSession")
		got := consume(sess.Client(), 15)
		check(sess.Begin(), "Begin")
		for _, r := range got {
			out := &kgo.Record{Topic: outTopic, Key: r.Key, Value: []byte("copy-" + string(r.Value))}
			check(sess.ProduceSync(ctx, out).FirstErr(), "produce in the transaction")
		}
		committed, err := sess.End(ctx, kgo.TryCommit)
		check(err, "End")
		if !committed {
			fail("the transaction did not commit")
		}
		sess.Close()

		offsets, err := adm.FetchOffsets(ctx, eosGroup)
		check(err, "FetchOffsets")
		check(offsets.Error(), "FetchOffsets")
		var sum int64
		offsets.Each(func(o kadm.OffsetResponse) { sum += o.At })
		if sum != 15 {
			fail("offsets committed with the transaction sum to %d, want 15", sum)
		}
		reader := newClient(kgo.ConsumeTopics(outTopic), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
		copies := consume(reader, 15)
		reader.Close()
		want := append(values("copy-first", 9), values("copy-second", 6)...)
		expectValues(copies, want)
		fmt.Printf("copied %d records in one transaction with the group's offsets (sum %d)\n", len(copies), sum)
	})

	step("admin: list and describe topics", func() {
		topics, err := adm.ListTopics(ctx)
		check(err, "ListTopics")
		for _, t := range []string{topic, txnTopic, outTopic} {
			d, ok := topics[t]
			if !ok {
				fail("ListTopics lacks %s: %v", t, topics.Names())
			}
			check(d.Err, "topic %s", t)
			if len(d.Partitions) != partitions {
				fail("%s has %d partitions, want %d", t, len(d.Partitions), partitions)
			}
			for _, p := range d.Partitions {
				if p.Leader < 0 || len(p.Replicas) != 1 || len(p.ISR) != 1 {
					fail("%s partition %d: leader %d replicas %v isr %v", t, p.Partition, p.Leader, p.Replicas, p.ISR)
				}
			}
		}
		configs, err := adm.DescribeTopicConfigs(ctx, topic)
		check(err, "DescribeTopicConfigs")
		rc, err := configs.On(topic, nil)
		check(err, "DescribeTopicConfigs %s", topic)
		check(rc.Err, "DescribeTopicConfigs %s", topic)
		cleanup := ""
		for _, c := range rc.Configs {
			if c.Key == "cleanup.policy" {
				cleanup = c.MaybeValue()
			}
		}
		if cleanup != "delete" {
			fail("cleanup.policy of %s is %q, want delete", topic, cleanup)
		}
		ends, err := adm.ListEndOffsets(ctx, topic)
		check(err, "ListEndOffsets")
		var end int64
		ends.Each(func(o kadm.ListedOffset) { end += o.Offset })
		if end != 15 {
			fail("end offsets of %s sum to %d, want 15", topic, end)
		}
		fmt.Printf("listed %d topics; %s: %d partitions, cleanup.policy=%s, end offsets sum %d\n", len(topics), topic, partitions, cleanup, end)
	})

	step("admin: list and describe groups", func() {
		listed, err := adm.ListGroups(ctx)
		check(err, "ListGroups")
		l, ok := listed[group]
		if !ok {
			fail("ListGroups lacks %s: %v", group, listed.Groups())
		}
		if l.State != "Empty" {
			fail("listed %s in state %q, want Empty", group, l.State)
		}
		wantType := map[string]string{"classic": "classic", "consumer": "consumer"}[protocol]
		if l.GroupType != "" && l.GroupType != wantType {
			fail("listed %s of type %q, want %q", group, l.GroupType, wantType)
		}
		if protocol == "classic" {
			described, err := adm.DescribeGroups(ctx, group)
			check(err, "DescribeGroups")
			d := described[group]
			check(d.Err, "DescribeGroups %s", group)
			if d.State != "Empty" || d.ProtocolType != "consumer" || len(d.Members) != 0 {
				fail("described %s: state %q protocol type %q members %d", group, d.State, d.ProtocolType, len(d.Members))
			}
			fmt.Printf("group %s: type %s, state %s, protocol type %s\n", group, l.GroupType, d.State, d.ProtocolType)
		} else {
			described, err := adm.DescribeConsumerGroups(ctx, group)
			check(err, "DescribeConsumerGroups")
			d := described[group]
			check(d.Err, "DescribeConsumerGroups %s", group)
			if d.State != "Empty" || len(d.Members) != 0 || d.Epoch < 1 {
				fail("described %s: state %q members %d epoch %d", group, d.State, len(d.Members), d.Epoch)
			}
			fmt.Printf("group %s: type %s, state %s, epoch %d\n", group, l.GroupType, d.State, d.Epoch)
		}
		var total int64
		if protocol == "classic" {
			lag, err := adm.Lag(ctx, group)
			check(err, "Lag")
			gl := lag[group]
			check(gl.Error(), "Lag %s", group)
			total = gl.Lag.Total()
		} else {
			// kadm's Lag describes the group with DescribeGroups, which from v6 (KIP-1043)
			// answers GROUP_ID_NOT_FOUND for a consumer protocol group, on Kafka 4.1 as here:
			// the lag is the end offsets less the commits.
			committed, err := adm.FetchOffsets(ctx, group)
			check(err, "FetchOffsets")
			check(committed.Error(), "FetchOffsets %s", group)
			ends, err := adm.ListEndOffsets(ctx, topic)
			check(err, "ListEndOffsets")
			ends.Each(func(o kadm.ListedOffset) {
				check(o.Err, "ListEndOffsets %s %d", o.Topic, o.Partition)
				c, ok := committed.Lookup(o.Topic, o.Partition)
				if !ok {
					fail("group %s has no commit for %s %d", group, o.Topic, o.Partition)
				}
				total += o.Offset - c.At
			})
		}
		if total != 0 {
			fail("group %s lags by %d, want 0", group, total)
		}
		fmt.Printf("group %s has no lag\n", group)
	})

	step("a second member joins and the partitions are shared", func() {
		shareGroup := prefix + "-share-group"
		own := &ownership{owner: map[int32]string{}}
		a := newClient(append(groupOpts(shareGroup, topic), own.callbacks("a")...)...)
		defer a.Close()
		pollUntil([]*kgo.Client{a}, func() bool { return own.owned("a") == partitions }, "a to own every partition", nil)
		b := newClient(append(groupOpts(shareGroup, topic), own.callbacks("b")...)...)
		pollUntil([]*kgo.Client{a, b}, func() bool {
			return own.owned("a") > 0 && own.owned("b") > 0 && own.owned("a")+own.owned("b") == partitions
		}, "a and b to share the partitions", nil)
		fmt.Printf("a owns %d partitions, b owns %d\n", own.owned("a"), own.owned("b"))

		produce(topic, "third", 6)
		var third []*kgo.Record
		readers := map[string]bool{}
		pollUntil([]*kgo.Client{a, b}, func() bool { return len(third) >= 6 }, "the 6 new records", func(member string, r *kgo.Record) {
			if !strings.HasPrefix(string(r.Value), "third-") {
				return
			}
			third = append(third, r)
			if owner := own.of(r.Partition); owner != member {
				fail("%s read %s of partition %d owned by %s", member, r.Value, r.Partition, owner)
			}
			readers[member] = true
		})
		expectValues(third, values("third", 6))
		if !readers["a"] || !readers["b"] {
			fail("only %v read the new records", readers)
		}
		b.Close()
		// b left: a gets every partition back.
		pollUntil([]*kgo.Client{a}, func() bool { return own.owned("a") == partitions }, "a to own every partition again", nil)
		if len(own.violations) > 0 {
			fail("partitions owned twice: %v", own.violations)
		}
		fmt.Println("2 members shared the 3 partitions without overlap and each read its own; after b left, a owned them all")
	})

	fmt.Println("OK")
}

// ownership tracks which member owns which partition according to the group callbacks, and notes
// any partition given to a member while another still owns it.
type ownership struct {
	mu         sync.Mutex
	owner      map[int32]string
	violations []string
}

func (o *ownership) callbacks(member string) []kgo.Opt {
	drop := func(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
		o.mu.Lock()
		defer o.mu.Unlock()
		for _, ps := range lost {
			for _, p := range ps {
				if o.owner[p] == member {
					delete(o.owner, p)
				}
			}
		}
	}
	return []kgo.Opt{
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, added map[string][]int32) {
			o.mu.Lock()
			defer o.mu.Unlock()
			for _, ps := range added {
				for _, p := range ps {
					if before, ok := o.owner[p]; ok && before != member {
						o.violations = append(o.violations, fmt.Sprintf("%s got %d still owned by %s", member, p, before))
					}
					o.owner[p] = member
				}
			}
		}),
		kgo.OnPartitionsRevoked(drop),
		kgo.OnPartitionsLost(drop),
	}
}

func (o *ownership) owned(member string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, m := range o.owner {
		if m == member {
			n++
		}
	}
	return n
}

func (o *ownership) of(p int32) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.owner[p]
}

// pollUntil polls the members in turn ("a", "b") until done, handing each record to each.
func pollUntil(members []*kgo.Client, done func() bool, what string, each func(member string, r *kgo.Record)) {
	deadline := time.Now().Add(30 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			fail("timed out waiting for %s", what)
		}
		for i, cl := range members {
			short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			fetches := cl.PollFetches(short)
			cancel()
			fetches.EachError(func(t string, p int32, err error) {
				if err != context.DeadlineExceeded {
					fail("fetch %s/%d: %v", t, p, err)
				}
			})
			if each != nil {
				for _, r := range fetches.Records() {
					each([]string{"a", "b"}[i], r)
				}
			}
		}
	}
}

// describeLive checks the group while its one member consumes: Stable, the member owning every
// partition, under the balancer kgo chose (cooperative-sticky by default) or the broker's.
func describeLive(adm *kadm.Client, group string) {
	if protocol == "classic" {
		described, err := adm.DescribeGroups(ctx, group)
		check(err, "DescribeGroups")
		d := described[group]
		check(d.Err, "DescribeGroups %s", group)
		if d.State != "Stable" || d.Protocol != "cooperative-sticky" || len(d.Members) != 1 {
			fail("described %s: state %q protocol %q members %d", group, d.State, d.Protocol, len(d.Members))
		}
		owned := 0
		if a, ok := d.Members[0].Assigned.AsConsumer(); ok {
			for _, t := range a.Topics {
				owned += len(t.Partitions)
			}
		}
		if owned != partitions {
			fail("the member of %s owns %d partitions, want %d", group, owned, partitions)
		}
		fmt.Printf("group %s: %s, assignor %s, 1 member owning %d partitions\n", group, d.State, d.Protocol, owned)
		return
	}
	described, err := adm.DescribeConsumerGroups(ctx, group)
	check(err, "DescribeConsumerGroups")
	d := described[group]
	check(d.Err, "DescribeConsumerGroups %s", group)
	if d.State != "Stable" || len(d.Members) != 1 {
		fail("described %s: state %q members %d", group, d.State, len(d.Members))
	}
	owned := 0
	for _, ps := range d.Members[0].Assignment {
		owned += len(ps)
	}
	if owned != partitions {
		fail("the member of %s owns %d partitions, want %d", group, owned, partitions)
	}
	fmt.Printf("group %s: %s, assignor %s, 1 member owning %d partitions\n", group, d.State, d.AssignorName, owned)
}

// logLevel is warn unless CONFORMANCE_LOG asks for more (debug, info).
func logLevel() kgo.LogLevel {
	switch os.Getenv("CONFORMANCE_LOG") {
	case "debug":
		return kgo.LogLevelDebug
	case "info":
		return kgo.LogLevelInfo
	}
	return kgo.LogLevelWarn
}

func baseOpts() []kgo.Opt {
	return []kgo.Opt{kgo.SeedBrokers(bootstrap), kgo.ClientID(prefix), kgo.WithLogger(kgo.BasicLogger(os.Stderr, logLevel(), nil))}
}

func newClient(opts ...kgo.Opt) *kgo.Client {
	cl, err := kgo.NewClient(append(baseOpts(), opts...)...)
	check(err, "NewClient")
	return cl
}

func groupOpts(group, topic string) []kgo.Opt {
	opts := []kgo.Opt{kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit()}
	if protocol == "consumer" {
		opts = append(opts, kgo.ServerSideBalancer(), kgo.Balancers(kgo.CooperativeStickyBalancer()))
	}
	return opts
}

// produce sends n records keyed k0..k(n-1) with two headers each, through the default
// (idempotent) producer.
func produce(topic, name string, n int) {
	cl := newClient()
	defer cl.Close()
	records := make([]*kgo.Record, n)
	for i := range records {
		records[i] = &kgo.Record{
			Topic:   topic,
			Key:     []byte(fmt.Sprintf("k%d", i)),
			Value:   []byte(fmt.Sprintf("%s-%d", name, i)),
			Headers: []kgo.RecordHeader{{Key: "source", Value: []byte("franz-go")}, {Key: "seq", Value: []byte(fmt.Sprint(i))}},
		}
	}
	results := cl.ProduceSync(ctx, records...)
	check(results.FirstErr(), "ProduceSync")
	perPartition := map[int32]int{}
	for _, r := range results {
		perPartition[r.Record.Partition]++
	}
	fmt.Printf("produced %d %q records, per partition %v\n", n, name, perPartition)
}

// consume polls until n records arrived, failing on any fetch error; then polls once more
// briefly to catch any record beyond the n expected.
func consume(cl *kgo.Client, n int) []*kgo.Record {
	var got []*kgo.Record
	for len(got) < n {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			fail("timed out after %d of %d records: %v", len(got), n, valuesOf(got))
		}
		fetches.EachError(func(t string, p int32, err error) { fail("fetch %s/%d: %v", t, p, err) })
		got = append(got, fetches.Records()...)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	extra := cl.PollFetches(short).Records()
	got = append(got, extra...)
	if len(got) != n {
		fail("read %d records, want %d: %v", len(got), n, valuesOf(got))
	}
	return got
}

func values(name string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", name, i)
	}
	return out
}

func valuesOf(rs []*kgo.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r.Value)
	}
	sort.Strings(out)
	return out
}

func expectValues(got []*kgo.Record, want []string) {
	sort.Strings(want)
	if g := valuesOf(got); strings.Join(g, ",") != strings.Join(want, ",") {
		fail("read %v, want %v", g, want)
	}
}

func step(name string, fn func()) {
	start := time.Now()
	fn()
	fmt.Printf("step %q passed in %d ms\n", name, time.Since(start).Milliseconds())
}

func check(err error, what string, args ...any) {
	if err != nil {
		fail("%s: %v", fmt.Sprintf(what, args...), err)
	}
}

func fail(format string, args ...any) {
	fmt.Printf("FAIL: "+format+"\n", args...)
	os.Exit(1)
}
