// Preloaded into our nodes by `bench:compare --cpu-prof DIR` (NODE_OPTIONS=--require ..., since
// --cpu-prof itself is refused in NODE_OPTIONS): samples the CPU from start-up and writes
// DIR/<NODE_ID>-<pid>.cpuprofile (Chrome DevTools format) when the process gets SIGUSR2.
const inspector = require('node:inspector');
const fs = require('node:fs');
const path = require('node:path');

const dir = process.env.BENCH_CPU_PROF_DIR;
if (dir) {
  fs.mkdirSync(dir, { recursive: true });
  const session = new inspector.Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 500 });
  // BENCH_CPU_PROF_DELAY_MS leaves start-up and warm-up out of the profile.
  setTimeout(() => session.post('Profiler.start'), Number(process.env.BENCH_CPU_PROF_DELAY_MS || 0)).unref();
  process.on('SIGUSR2', () => {
    session.post('Profiler.stop', (err, res) => {
      if (err) return;
      const file = path.join(dir, `${process.env.NODE_ID || 'node'}-${process.pid}.cpuprofile`);
      fs.writeFileSync(file + '.tmp', JSON.stringify(res.profile));
      fs.renameSync(file + '.tmp', file);
      session.post('Profiler.start');
    });
  });
}
