package workers

import (
	"encoding/json"
	"fmt"

	"github.com/herdrun/herd/internal/fifo"
)

// Message is one message between a Thread and its parent.
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

// msgQueue is the inbox of a Thread or a Port: unbounded, so that a reader
// that does not keep up never blocks the channel (as in Node, where
// messages queue in the receiving thread).
type msgQueue = fifo.Queue[Message]

func newMsgQueue() *msgQueue { return new(msgQueue) }

func encodeMessage(v any) (Message, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return Message{}, fmt.Errorf("workers: encode message: %w", err)
	}
	return Message{Data: b}, nil
}
