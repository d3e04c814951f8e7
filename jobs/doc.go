// Package jobs runs durable jobs on NATS JetStream.
package jobs
