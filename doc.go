// Package whycache is the client library of whycache: a key-value dataset
// shared by every process on a node through a memory-mapped file, with reads
// at memory speed and writes that are slow but guaranteed.
//
// Open an instance by its directory (the hostPath the node agent keeps up to
// date, mounted read-only into the pod):
//
//	c, err := whycache.Open("/var/lib/whycache/flags")
//	if err != nil { ... }
//	defer c.Close()
//	v, err := c.Get([]byte("feature.x"))          // a copy; errors.Is(err, whycache.ErrNotFound) when missing
//	err = c.View([]byte("feature.x"), func(v []byte) { ... }) // zero-copy: v is valid only inside the callback
//	id, err := c.Set(ctx, []byte("feature.x"), []byte("on")) // durable once it returns
//	err = c.WaitFor(ctx, id)                      // read-your-writes on this node
//
// [Open] fails with [ErrNoFile] until the node agent has made the file;
// [OpenWait] waits for it.
//
// Reads take no lock and make no system call; they never depend on the agent
// being up. Writes go through the node agent's Unix socket in the instance
// directory, or, with [WithStore], straight to the log store. A job or tool
// that runs outside the cluster, with no cache file, writes through a
// [Writer] ([NewWriter]). A write returns the update id once the update is
// durable in the log; every node applies it shortly after.
//
// Iteration ([Client.Keys], [Client.Values], [Client.Items], [Client.Prefix])
// may see updates that happen while it runs, as in the original whycache, but
// never a torn value.
package whycache
