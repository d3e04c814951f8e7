package jobs

import (
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// MaxReplicas is the largest Config.Replicas: JetStream keeps at most five
// copies of a stream.
const MaxReplicas = 5

// checkReplicas refuses a replica count JetStream cannot place before any
// connection is made.
func checkReplicas(cfg Config) error {
	switch {
	case cfg.Replicas > MaxReplicas:
		return &ValidationError{Field: "Config.Replicas", Problem: fmt.Sprintf("%d is more than JetStream keeps (at most %d; 3 survives one lost node)", cfg.Replicas, MaxReplicas)}
	case cfg.Replicas > 1 && cfg.Dir != "":
		return &ValidationError{Field: "Config.Replicas", Problem: fmt.Sprintf("%d replicas need a cluster: the embedded server (Config.Dir) is one node; set URLs to a cluster's nodes (herd jobs node, herd jobs dev-cluster) or leave Replicas at 0", cfg.Replicas)}
	}
	return nil
}

// errCodeNoPeers is JetStream's "no suitable peers for placement".
const errCodeNoPeers jetstream.ErrorCode = 10005

// placementHint adds what to do to JetStream's "no suitable peers" error:
// the cluster has fewer nodes (with JetStream, in reach) than Replicas.
func placementHint(err error, replicas int) error {
	var ae *jetstream.APIError
	if errors.As(err, &ae) && ae.ErrorCode == errCodeNoPeers {
		return fmt.Errorf("%w (Config.Replicas is %d: the cluster needs that many JetStream nodes up and routed)", err, replicas)
	}
	return err
}
