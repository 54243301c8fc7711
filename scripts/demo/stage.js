// The demo's stage-command: "deploys" SWITCHYARD_VERSION to every server of the idle colour by
// telling each sample service to run it (POST /release). A real stage-command would install the
// release and restart the service; switchyard then waits for the colour to become healthy.
const version = process.env.SWITCHYARD_VERSION;
const servers = (process.env.SWITCHYARD_SERVERS ?? '').split(',').filter(Boolean);
if (!version || servers.length === 0) {
  console.error('stage.js needs SWITCHYARD_VERSION and SWITCHYARD_SERVERS (switchyard sets both)');
  process.exit(2);
}
for (const server of servers) {
  const response = await fetch(`http://${server}/release?version=${encodeURIComponent(version)}`, {
    method: 'POST',
  });
  if (!response.ok) {
    console.error(`${server}: HTTP ${response.status}`);
    process.exit(1);
  }
  console.log(`${process.env.SWITCHYARD_COLOR} ${server} now runs ${version}`);
}
