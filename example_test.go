package whycache_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"path/filepath"
	"time"

	"github.com/whycache/whycache"
	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/backends"
)

// exampleDir is an instance directory kept up to date by a node agent that
// TestMain runs for the examples (in production: the hostPath mounted into
// the pod, e.g. /var/lib/whycache/<instance>).
var exampleDir string

// exampleLogDir is the local-directory log that agent follows (in
// production: a MySQL or PostgreSQL database that jobs reach too).
var exampleLogDir string

func Example() {
	c, err := whycache.Open(exampleDir)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// A write returns once the update is durable in the log...
	id, err := c.Set(ctx, []byte("greeting"), []byte("hello"))
	if err != nil {
		log.Fatal(err)
	}
	// ...and every node applies it shortly after; wait for this one.
	if err := c.WaitFor(ctx, id); err != nil {
		log.Fatal(err)
	}
	v, err := c.Get([]byte("greeting"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(v))
	// Output: hello
}

func ExampleClient_Get_notFound() {
	c, err := whycache.Open(exampleDir)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	_, err = c.Get([]byte("no such key"))
	fmt.Println(errors.Is(err, whycache.ErrNotFound))
	// Output: true
}

func ExampleClient_View() {
	c, err := whycache.Open(exampleDir, whycache.WithApplyWait())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Set(context.Background(), []byte("route/eu"), []byte("10.0.0.7")); err != nil {
		log.Fatal(err)
	}
	// The value is a view into the shared mapping: no copy, no allocation.
	// It is valid only inside the callback.
	err = c.View([]byte("route/eu"), func(v []byte) {
		fmt.Printf("%d bytes: %s\n", len(v), v)
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output: 8 bytes: 10.0.0.7
}

func ExampleClient_Prefix() {
	c, err := whycache.Open(exampleDir, whycache.WithApplyWait())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if _, err := c.SetMulti(ctx, map[string][]byte{
		"flags/beta": []byte("off"), "flags/dark-mode": []byte("on"), "limits/rps": []byte("100"),
	}); err != nil {
		log.Fatal(err)
	}
	for k, v := range c.Prefix([]byte("flags/")) {
		fmt.Printf("%s=%s\n", k, v)
	}
	// Output:
	// flags/beta=off
	// flags/dark-mode=on
}

func ExampleClient_DeleteMulti() {
	c, err := whycache.Open(exampleDir, whycache.WithApplyWait())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if _, err := c.SetMulti(ctx, map[string][]byte{"tmp/a": []byte("1"), "tmp/b": []byte("2")}); err != nil {
		log.Fatal(err)
	}
	// A missing key is not an error: the others are deleted.
	if _, err := c.DeleteMulti(ctx, [][]byte{[]byte("tmp/a"), []byte("tmp/missing"), []byte("tmp/b")}); err != nil {
		log.Fatal(err)
	}
	n := 0
	for range c.Prefix([]byte("tmp/")) {
		n++
	}
	fmt.Println(n)
	// Output: 0
}

func ExampleClient_Pin() {
	c, err := whycache.Open(exampleDir, whycache.WithApplyWait())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if _, err := c.SetMulti(context.Background(), map[string][]byte{"price/a": []byte("3"), "price/b": []byte("4")}); err != nil {
		log.Fatal(err)
	}
	// One pin for the lookups of one request: they take no reference each.
	p, err := c.Pin()
	if err != nil {
		log.Fatal(err)
	}
	defer p.Release()
	total := 0
	for _, k := range []string{"price/a", "price/b"} {
		if err := p.View([]byte(k), func(v []byte) { total += int(v[0] - '0') }); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println(total)
	// Output: 7
}

// A job outside the cluster has no cache file: it writes to the log store
// that the node agents follow, and every node applies what it wrote.
func ExampleNewWriter() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The store's URL: a directory here; mysql://… or postgres://… in a
	// cluster.
	store, err := backends.Open(ctx, exampleLogDir, logstore.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	w, err := whycache.NewWriter(store)
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	id, err := w.Set(ctx, []byte("batch/nightly"), []byte("done"))
	if err != nil {
		log.Fatal(err)
	}

	// On a node, once its agent has applied the update:
	c, err := whycache.Open(exampleDir)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if err := c.WaitFor(ctx, id); err != nil {
		log.Fatal(err)
	}
	v, err := c.Get([]byte("batch/nightly"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(v))
	// Output: done
}

// A pod that may start before its node's agent has made the file waits for
// it, for as long as its context allows, instead of polling Open.
func ExampleOpenWait() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := whycache.OpenWait(ctx, exampleDir)
	if err != nil {
		log.Fatal(err) // errors.Is(err, whycache.ErrNoFile) if the minute passed first
	}
	defer c.Close()
	fmt.Println(filepath.Base(c.Path()))
	// Output: cache.whycache
}
