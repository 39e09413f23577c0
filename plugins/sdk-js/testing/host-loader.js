/**
 * Native tests' stand-in for the host: resolves `rollcall:policy/host@0.3.0`
 * (which only the component provides) to `host-stub.js`. Registered by
 * `register-host.js`, which `npm test` passes to node with `--import`.
 */

const HOST = /^rollcall:policy\/host(@[0-9.]+)?$/;

export async function resolve(specifier, context, nextResolve) {
  if (HOST.test(specifier)) {
    return {
      url: new URL("./host-stub.js", import.meta.url).href,
      shortCircuit: true,
    };
  }
  return nextResolve(specifier, context);
}
