package jobs

const workerEnv = "HERD_JOBS_TEST_WORKER"

func workerMain() {}
