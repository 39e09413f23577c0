/** Registers `host-loader.js` so that native tests can import the SDK's host. */

import { register } from "node:module";

register("./host-loader.js", import.meta.url);
