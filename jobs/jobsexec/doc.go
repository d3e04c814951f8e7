// Package jobsexec runs jobs with a program in any language: a Runner is
// a jobs handler that hands each job to a command and turns what the
// command says back into the job's progress, result or error. `herd jobs
// worker` is its command-line face.
//
// # Two ways to run the command
//
// One-shot (the default): a process per attempt.
//
//	job ──► CMD ARGS       stdin:  the job's args as JSON, then EOF
//	                       env:    HERD_JOB_ID, HERD_JOB_KIND, HERD_JOB_QUEUE,
//	                               HERD_JOB_ATTEMPT, HERD_JOB_MAX_ATTEMPTS
//	        ◄── stdout:    the result, one JSON value (empty stdout is null)
//	        ◄── stderr:    progress lines and the command's log
//	        ◄── exit code: 0 succeeds; anything else fails the attempt, and
//	                       the error carries the tail of stderr
//
// Kept (Config.Keep): one long-lived process per job running at once,
// started for the first job and given the next when it has answered. It
// gets each job as a message and answers with messages:
//
//	job     {"id":"01J…","kind":"resize","queue":"default","attempt":1,
//	         "max_attempts":3,"args":{…}}
//	replies {"progress":0.5,"note":"…"}        any number, optional
//	        {"result":…}                        the job succeeded, or
//	        {"error":"…","permanent":false}     the attempt failed
//
// A reply may carry "id"; one for another job is dropped. Over stdio
// (TransportStdio) a job is one line on stdin and a reply is one line on
// stdout; a stdout line that is not a reply (not a JSON object with
// "result", "error" or "progress") is logged, not an error. Over Node's
// IPC channel (TransportIPC, the default for a Node command) they are
// messages: process.on('message', job => …) and process.send({result}).
// A Node command without Keep gets its one job the same way; once it has
// answered, its channel is closed and it should exit.
//
// # Progress
//
// One format everywhere: a line of stderr that is a JSON object with a
// "progress" key, a number from 0 to 1, and an optional "note":
//
//	{"progress":0.5,"note":"resized 3 of 6"}
//
// A kept command may also send the same object as a reply, which is the
// surer way for it: its stderr is read apart from its replies, so a
// progress line written just before the result can arrive after it, and is
// then dropped. Progress is
// stored as the job's progress and note (jobs.Job.Progress); updates that
// come faster than the store takes them are merged, the latest kept. A
// progress line with a bad value is logged as a warning (Config.Warn); any
// other stderr line is the command's log (Config.Output) and goes into the
// tail an attempt's error carries.
//
// # Ending a process
//
// Every process runs in its own process group (package child). When the
// attempt's context ends (the job's timeout, Config.Timeout, a cancel, a
// worker's shutdown), the whole group gets SIGTERM, then SIGKILL after
// Config.KillGrace, and Handle returns once the process is reaped: no
// grandchild is left running, no zombie is left behind. A process that
// escapes its group (setsid) is beyond this. A kept process that exits,
// crashes or breaks the protocol while it runs a job fails that attempt
// and is replaced at the next job; Close ends the idle ones.
package jobsexec
