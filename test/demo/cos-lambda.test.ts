import { test } from "node:test";
import assert from "node:assert/strict";
import { bestLambda } from "../../src/demo/cos-lambda.ts";

test("CoS's lambda: the best validation ROUGE-1 wins, the first (smaller) one on a tie", () => {
  assert.equal(bestLambda([{ lambda: 0.5, rouge1: 0.1 }, { lambda: 1, rouge1: 0.2 }, { lambda: 2, rouge1: 0.2 }, { lambda: 3, rouge1: 0.15 }]), 1);
  assert.equal(bestLambda([{ lambda: 0.5, rouge1: 0.1 }, { lambda: 3, rouge1: 0.3 }]), 3);
  assert.equal(bestLambda([{ lambda: 2, rouge1: 0 }]), 2);
});
