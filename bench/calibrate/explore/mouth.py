import sys, numpy as np
from PIL import Image
from pathlib import Path
sys.path.insert(0,str(__import__('pathlib').Path(__file__).resolve().parent)); from sclera import sess, run_mesh, C, EYES
def tem(p):
    t=C.read_tem(p); return np.asarray(t[0] if isinstance(t,tuple) else t)
def lin(a): a=a/255.0; return np.where(a<=0.04045,a/12.92,((a+0.055)/1.055)**2.4)
for kind in ('03','08'):
  for src in sorted(Path('/work/shared/calibration/london').glob(f'*_{kind}.jpg')):
    pts=tem(Path(str(src).replace('_08','_03')).with_suffix('.tem'))
    img=np.asarray(Image.open(src).convert('RGB'))
    k=207/np.linalg.norm(pts[110]-pts[113])
    im=Image.fromarray(img).resize((round(1350*k),round(1350*k)),Image.LANCZOS); img=np.asarray(im).astype(float); P=pts*k
    eye=(P[0]+P[1])/2; chin=P[129]; reach=np.linalg.norm(chin-eye)
    m=run_mesh(sess,img.astype(np.uint8),(eye+chin)/2,2.3*reach)
    fw=np.linalg.norm(m[234,:2]-m[454,:2])
    gap=np.linalg.norm(m[13,:2]-m[14,:2])/fw; lips=np.linalg.norm(m[0,:2]-m[17,:2])/fw
    # image: luma along 13->14 extended by 2px, columns +-2
    Y=lin(img)@[0.2127,0.7152,0.0722]
    a=m[13,:2]; b=m[14,:2]; d=b-a; L=np.linalg.norm(d); u=d/max(L,1e-6); n=np.array([-u[1],u[0]])
    up=np.median([Y[int(p[1]),int(p[0])] for p in [m[0,:2]*0.5+m[13,:2]*0.5]]); lo=np.median([Y[int(p[1]),int(p[0])] for p in [m[14,:2]*0.5+m[17,:2]*0.5]])
    ref=min(up,lo)
    cnt=0
    for t in np.arange(-2,L+2,1.0):
        vals=[Y[int(round((a+t*u+s*n)[1])),int(round((a+t*u+s*n)[0]))] for s in (-2,-1,0,1,2)]
        v=np.median(vals)
        if v<0.5*ref or v>2.5*ref: cnt+=1
    print(kind, src.name[:3], f"gap {gap:.3f} lips {lips:.3f} ratio {gap/lips:.2f} darkrun {cnt/fw:.3f}", flush=True)
