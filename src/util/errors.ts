// Errors caused by the user's input (bad file, bad flag, bad shape). The CLI prints their message without a stack.
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UserError";
  }
}
