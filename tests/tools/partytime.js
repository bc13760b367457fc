// Reads a feed with podcast-partytime (npm; a parser that knows
// podcast:liveItem) and prints its live items as JSON.
// Usage: node partytime.js <dir holding node_modules> <feed.xml>
const path = require("path");
const fs = require("fs");
const pt = require(path.join(process.argv[2], "node_modules", "podcast-partytime"));
const feed = pt.parseFeed(fs.readFileSync(process.argv[3], "utf8"));
if (!feed) {
  console.error("podcast-partytime could not parse the feed");
  process.exit(1);
}
const live = (feed.podcastLiveItems || []).map((i) => ({
  status: i.status,
  start: i.start,
  end: i.end,
  guid: i.guid,
  title: i.title,
  enclosure: i.enclosure,
  contentLinks: i.contentLinks,
}));
console.log(JSON.stringify({ title: feed.title, episodes: (feed.items || []).length, live }));
