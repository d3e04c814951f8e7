package workers

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
)

// Message is one message between a Worker and its parent.
type Message struct {
	// Data is the JSON text of the value sent with Send, or the raw bytes
	// sent with SendBytes. The receiver owns it.
	Data []byte
	// Raw is true for bytes sent with SendBytes.
	Raw bool
}

// Decode unmarshals a JSON message into v. For a Raw message v must be a
// *[]byte, which receives Data.
func (m Message) Decode(v any) error {
	if m.Raw {
		p, ok := v.(*[]byte)
		if !ok {
			return fmt.Errorf("workers: decode raw message into %T: want *[]byte", v)
		}
		*p = m.Data
		return nil
	}
	return json.Unmarshal(m.Data, v)
}

// msgQueue is an unbounded FIFO of messages with a close signal, so that
// a reader that does not keep up never blocks the channel (as in Node,
// where messages queue in the receiving thread).
type msgQueue struct {
	mu     sync.Mutex
	q      []Message
	closed error
	notify chan struct{}
}

func newMsgQueue() *msgQueue { return &msgQueue{notify: make(chan struct{}, 1)} }

func (q *msgQueue) push(m Message) bool {
	q.mu.Lock()
	if q.closed != nil {
		q.mu.Unlock()
		return false
	}
	q.q = append(q.q, m)
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
	return true
}

func (q *msgQueue) close(err error) {
	q.mu.Lock()
	if q.closed == nil {
		q.closed = err
	}
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// pop returns the next message; once the queue is closed and empty it
// returns the close error.
func (q *msgQueue) pop(ctx context.Context) (Message, error) {
	for {
		q.mu.Lock()
		if len(q.q) > 0 {
			m := q.q[0]
			q.q[0] = Message{}
			q.q = q.q[1:]
			more := len(q.q) > 0 || q.closed != nil
			q.mu.Unlock()
			if more {
				select {
				case q.notify <- struct{}{}:
				default:
				}
			}
			return m, nil
		}
		if err := q.closed; err != nil {
			q.mu.Unlock()
			select {
			case q.notify <- struct{}{}:
			default:
			}
			return Message{}, err
		}
		q.mu.Unlock()
		select {
		case <-q.notify:
		case <-ctx.Done():
			return Message{}, ctx.Err()
		}
	}
}

func encodeMessage(v any) (Message, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return Message{}, fmt.Errorf("workers: encode message: %w", err)
	}
	return Message{Data: b}, nil
}
