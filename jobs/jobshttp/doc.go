// Package jobshttp serves a jobs.Client over HTTP and JSON: submit a job and
// get its ID at once, then read it, wait for it, watch it as Server-Sent
// Events, cancel or retry it, list jobs and read queue statistics. It is the
// tutorial's answer to heavy work ("push the job to a worker and immediately
// respond with a job ID, or wait for the worker's response") as an
// http.Handler to mount in any server; `herd demo` serves it.
//
//	POST /jobs                    {"kind":"resize","args":{...},...} -> 202 {"id":"01J..."}, Location: /jobs/01J...
//	GET  /jobs/{id}               -> 200 Info; 404 for an unknown id
//	GET  /jobs/{id}/wait?timeout= -> 200 Info once the job has ended; 202 Info (current) at the timeout
//	GET  /jobs/{id}/events        -> text/event-stream: one event per change, closed after the final one
//	POST /jobs/{id}/cancel        -> 200 Info
//	POST /jobs/{id}/retry         -> 202 Info (queued again)
//	GET  /jobs?state=&queue=&kind=&limit=&cursor=&order= -> 200 {"jobs":[Info...],"next":"cursor or empty"}
//	GET  /queues                  -> 200 {"queues":[QueueStats...]}
//
// The event stream sends "event: state" first (the job as it is) and at
// each change of state or of anything else but progress (a running job's
// start and worker, once stored), "event: progress" for each progress
// update, each
// with the job's Info as "data:", and a ": keep-alive" comment when idle; it
// ends after the event whose state is final. A browser's EventSource
// reconnects when a stream ends, so close it on that event.
//
// A submit body holds the fields of SubmitRequest. Durations ("delay",
// "timeout", and the wait's "timeout" parameter) are Go duration strings such
// as "90s" or "5m"; "run_at" is an RFC 3339 time; "priority" is a name (low,
// normal, high, critical) or its number (-1 to 2). Unknown fields and
// unknown query parameters are refused by name.
//
// Every error is JSON, {"error":"...","field":"..."}: the text names the field
// and says what to write instead, and "field" is present when one field is
// at fault. The statuses:
//
//	400  bad input (the field named), or a kind no worker handles
//	404  no job with that id
//	409  the job's state does not allow it (retry of a job that did not fail or was not
//	     cancelled, cancel of a succeeded or failed one)
//	413  the body is larger than Options.MaxBodyBytes
//	429  the queue is full; Retry-After says when to try again (seconds)
//	503  the jobs.Client is closed
//
// The handler's routes are Go 1.22 ServeMux patterns rooted at "/"; to serve
// it under a prefix, strip the prefix:
//
//	mux.Handle("/api/", http.StripPrefix("/api", jobshttp.New(client, jobshttp.Options{})))
//
// The Location header of a submit keeps the prefix.
package jobshttp
