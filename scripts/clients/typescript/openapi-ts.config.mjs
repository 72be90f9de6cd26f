// @hey-api/openapi-ts settings for scripts/check-clients.sh (run from its work directory).
export default {
  input: process.env.RELEVO_OPENAPI,
  output: { path: 'gen', importFileExtension: '.js' },
  plugins: ['@hey-api/client-fetch', '@hey-api/typescript', '@hey-api/sdk', '@hey-api/schemas'],
};
