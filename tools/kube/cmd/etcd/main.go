// Command etcd is the upstream etcd server, built from the
// go.etcd.io/etcd/server/v3 release pinned in ../../go.mod (the one the
// pinned k8s.io/kubernetes release depends on). It mirrors etcd's main.go.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
