// `--device cpu|webgpu`, shared by the commands that run models (generate, forward).
import type { Command } from "commander";
import { UserError } from "../util/errors.ts";
import { DEVICES, type Device, deviceProviders } from "../runtime/session.ts";

export interface DeviceFlags {
  device?: string;
}

export function addDeviceFlag(cmd: Command): Command {
  return cmd.option("--device <device>", `where the models run: ${DEVICES.join(" | ")} (webgpu: ONNX Runtime's WebGPU provider, nodes it cannot run on the CPU)`, "cpu");
}

/** The device the flag names. */
export function deviceFromFlags(o: DeviceFlags): Device {
  const d = o.device ?? "cpu";
  if (!(DEVICES as readonly string[]).includes(d)) throw new UserError(`--device must be ${DEVICES.join(" or ")}, got "${d}"`);
  return d as Device;
}

/** Execution providers for the flag, or undefined for the default (CPU). */
export function providersFromFlags(o: DeviceFlags): string[] | undefined {
  const d = deviceFromFlags(o);
  return d === "cpu" ? undefined : deviceProviders(d);
}
